-- Background imports started through the JSON-RPC service (the Odoo addon's wizard).
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    dossier       TEXT NOT NULL,
    periods       TEXT NOT NULL,                 -- JSON array of YYYY-MM
    dry_run       INTEGER NOT NULL,
    requested_by  TEXT,
    state         TEXT NOT NULL,                 -- running | done | interrupted
    done          INTEGER NOT NULL DEFAULT 0,
    total         INTEGER NOT NULL,
    runs          TEXT NOT NULL DEFAULT '[]',    -- JSON array of run ids
    created_at    TEXT NOT NULL,
    finished_at   TEXT
) STRICT;
