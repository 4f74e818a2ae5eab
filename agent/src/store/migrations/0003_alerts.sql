-- One row per dossier while its imports fail: when the failure started and when the last
-- alert went out, so that people get one e-mail, a reminder, and one when it is over.
CREATE TABLE alert_states (
    dossier        TEXT PRIMARY KEY NOT NULL,
    failing_since  TEXT NOT NULL,
    last_sent_at   TEXT,
    last_kind      TEXT
) STRICT;
