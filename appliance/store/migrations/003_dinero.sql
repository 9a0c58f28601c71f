-- Transfers of Z reports to Dinero. One row per send of a Z (revision 1, 2, ...): a first post,
-- an in-place update of a draft, or a reversal of a booked item. Each step's result (file, item
-- version) is stored before the next step runs, so a crash or a lost response resumes where it
-- stopped and never makes a second ledger item. Mutable state, not the journal.
CREATE TABLE dinero_transfers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    z_number      INTEGER NOT NULL REFERENCES z_reports(z_number),
    revision      INTEGER NOT NULL,
    action        TEXT    NOT NULL CHECK (action IN ('post', 'resend', 'reversal')),
    ledger_id     TEXT    NOT NULL,
    org_id        INTEGER,
    state         TEXT    NOT NULL DEFAULT 'queued'
                          CHECK (state IN ('queued', 'sent', 'failed', 'superseded')),
    file_guid     TEXT,
    item_version  TEXT,
    maybe_stored  INTEGER NOT NULL DEFAULT 0,  -- the item's POST got no answer: read before re-posting
    lines         TEXT,               -- the ledger lines as sent (JSON), for the record
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  TEXT,               -- ISO time; NULL = now
    last_error    TEXT,
    created       TEXT    NOT NULL,
    sent_at       TEXT,
    UNIQUE (z_number, revision, action)
);
CREATE INDEX dinero_transfers_open ON dinero_transfers(id) WHERE state = 'queued';
