-- Silae account code -> Odoo partner (its reference, VAT number or exact name), per dossier
-- (JSON object): the partner put on the lines of that account (docs/odoo-protocol.md).
ALTER TABLE dossiers ADD COLUMN partner_map TEXT NOT NULL DEFAULT '{}';
