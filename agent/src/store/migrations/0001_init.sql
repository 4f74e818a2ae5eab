-- PayFlow's local state: the dossiers and the journal of every run. Append-only: add a new
-- migration file rather than editing this one.

CREATE TABLE dossiers (
    silae_number   TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    company_id     INTEGER NOT NULL CHECK (company_id > 0),
    journal_code   TEXT NOT NULL,
    transfer_day   INTEGER NOT NULL CHECK (transfer_day BETWEEN 1 AND 31),
    alert_emails   TEXT NOT NULL DEFAULT '[]',      -- JSON array of addresses
    enabled        INTEGER NOT NULL DEFAULT 1,
    account_map    TEXT NOT NULL DEFAULT '{}',      -- JSON object: Silae code -> Odoo code
    analytic       TEXT NOT NULL DEFAULT '{}',      -- JSON object: repartition index -> analytic account
    start_period   TEXT,                            -- YYYY-MM: nothing before it is imported
    wait_closed    INTEGER NOT NULL DEFAULT 1,      -- wait for Silae to close the period
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    dossier        TEXT NOT NULL,
    period         TEXT NOT NULL,
    trigger        TEXT NOT NULL,                   -- cli | timer | rpc
    triggered_by   TEXT,                            -- who, when known (Odoo user, OS user)
    dry_run        INTEGER NOT NULL DEFAULT 0,
    started_at     TEXT NOT NULL,                   -- RFC 3339 with offset
    finished_at    TEXT,
    status         TEXT NOT NULL,                   -- running | imported | already_imported | no_data | waiting | previewed | failed | interrupted
    error_kind     TEXT,
    message        TEXT NOT NULL DEFAULT '',        -- never cut
    moves          TEXT NOT NULL DEFAULT '[]',      -- JSON array of Odoo move ids
    total_debit    INTEGER,                         -- Silae's totals, in cents
    total_credit   INTEGER,
    line_count     INTEGER,
    plan           TEXT,                            -- JSON of the move plans (dry runs and imports)
    alert          TEXT                             -- what alert was sent, if any
) STRICT;

CREATE INDEX runs_by_dossier ON runs (dossier, id DESC);
CREATE INDEX runs_by_status ON runs (status, id DESC);
CREATE INDEX runs_by_period ON runs (period, id DESC);
