-- The expiry Silae announces for its client secrets (X-PrimaryKeyExpirationWarning /
-- X-SecondaryKeyExpirationWarning): one row per secret while announced.
CREATE TABLE silae_key_expiry (
    which    TEXT PRIMARY KEY NOT NULL CHECK (which IN ('primary', 'secondary')),
    expires  TEXT NOT NULL,
    seen_at  TEXT NOT NULL
) STRICT;
