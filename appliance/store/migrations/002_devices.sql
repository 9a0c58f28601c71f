-- Print jobs: the receipt printer's durable queue. A job is written in the same transaction as
-- the sale it prints, so a receipt is never lost; it is marked printed only after the printer
-- took the whole job, so it is never printed twice. This table is not the journal: its rows
-- change state (queued -> printed, or failed when a job can never be rendered), and the journal
-- records the sale itself.
CREATE TABLE print_jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created     TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('receipt', 'copy', 'report', 'document')),
    ref         INTEGER,            -- receipt number (receipt, copy), journal nr (report)
    document    TEXT,               -- a ready Document as JSON (kind 'document')
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    state       TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'printed', 'failed')),
    printed_at  TEXT
);
CREATE INDEX print_jobs_queued ON print_jobs(id) WHERE state = 'queued';

-- What a packaged product holds ("500 g", "1,5 l", "6 stk"), for the unit price on shelf labels.
ALTER TABLE products ADD COLUMN content TEXT;
