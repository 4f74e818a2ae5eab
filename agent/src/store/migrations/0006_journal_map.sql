-- Silae journal code (`codeJournal`) -> Odoo journal code, per dossier (JSON object).
ALTER TABLE dossiers ADD COLUMN journal_map TEXT NOT NULL DEFAULT '{}';
