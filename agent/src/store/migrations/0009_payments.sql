-- Salary payments (issue 20): per dossier, opt-in, with the Odoo journal code they go to.
ALTER TABLE dossiers ADD COLUMN payments INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dossiers ADD COLUMN payments_journal TEXT;
