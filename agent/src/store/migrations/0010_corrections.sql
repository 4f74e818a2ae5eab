-- Corrected payrolls (issue 19): what a run does when Silae corrected a posted payroll,
-- `alert` (fail with the difference, write nothing) or `adjust` (a draft adjustment move).
ALTER TABLE dossiers ADD COLUMN corrections TEXT NOT NULL DEFAULT 'alert';
