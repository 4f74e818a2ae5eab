-- Many Odoo targets per instance (issue 21): the dossier's target (`[odoo.targets.<name>]`;
-- 'default' is `[odoo]` itself), and the target each run was made for (its dossier's at start).
ALTER TABLE dossiers ADD COLUMN target TEXT NOT NULL DEFAULT 'default';
ALTER TABLE runs ADD COLUMN target TEXT NOT NULL DEFAULT 'default';
CREATE INDEX runs_by_target ON runs (target, id DESC);
