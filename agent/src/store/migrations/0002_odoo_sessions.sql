-- The Odoo protocol, version and uid found for a (url, database, login): no authentication
-- per import. Nothing secret: the uid alone grants nothing.
CREATE TABLE odoo_sessions (
    url         TEXT NOT NULL,
    database    TEXT NOT NULL,
    login       TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    major       INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (url, database, login)
) STRICT;
