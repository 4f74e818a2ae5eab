-- Big dossiers: their journal is always asked for asynchronously (EcrituresComptables4Asynchrone).
ALTER TABLE dossiers ADD COLUMN large INTEGER NOT NULL DEFAULT 0;
-- The e-mails sent about an expiring Silae client secret: one per secret, expiry date and
-- notice ('announced' when Silae first announces it, 'week_before' seven days before the date).
CREATE TABLE silae_key_notices (
    which    TEXT NOT NULL CHECK (which IN ('primary', 'secondary')),
    expires  TEXT NOT NULL,
    notice   TEXT NOT NULL CHECK (notice IN ('announced', 'week_before')),
    sent_at  TEXT NOT NULL,
    sent_to  TEXT NOT NULL,
    PRIMARY KEY (which, expires, notice)
) STRICT;
