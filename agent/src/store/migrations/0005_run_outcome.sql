-- The typed outcome of a run (crate::outcome::Outcome as JSON): status, kind, facts, action.
-- Runs recorded before it keep NULL and are read from their status, error_kind and message.
ALTER TABLE runs ADD COLUMN outcome TEXT;
