-- Tillbox schema, release 1. The journal is the record; the other tables are state and indexes.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE journal (
    nr          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          TEXT    NOT NULL,
    register_id TEXT    NOT NULL,
    cashier     TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    amount_in   INTEGER NOT NULL,
    amount_ex   INTEGER NOT NULL,
    payload     TEXT    NOT NULL,
    trans_id    TEXT    NOT NULL,
    signature   TEXT    NOT NULL,
    key_version INTEGER NOT NULL
);

CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: UPDATE refused'); END;

CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: DELETE refused'); END;

CREATE TRIGGER journal_gap_free BEFORE INSERT ON journal
WHEN NEW.nr IS NULL OR NEW.nr <> (SELECT COALESCE(MAX(nr), 0) + 1 FROM journal)
BEGIN SELECT RAISE(ABORT, 'journal numbers are gap-free'); END;

CREATE TABLE key_versions (
    version     INTEGER PRIMARY KEY,
    certificate TEXT NOT NULL,
    kind        TEXT NOT NULL,           -- self-signed | oces
    installed   TEXT NOT NULL
);

CREATE TABLE receipts (
    receipt_number   INTEGER PRIMARY KEY,
    journal_nr       INTEGER NOT NULL REFERENCES journal(nr),
    kind             TEXT    NOT NULL,   -- sale | return
    original_receipt INTEGER REFERENCES receipts(receipt_number),
    training         INTEGER NOT NULL DEFAULT 0,
    total            INTEGER NOT NULL
);
-- partial: a sale touches no index page, only a return does
CREATE INDEX receipts_by_original ON receipts(original_receipt) WHERE original_receipt IS NOT NULL;

CREATE TABLE z_reports (
    z_number      INTEGER PRIMARY KEY,
    journal_nr    INTEGER NOT NULL UNIQUE REFERENCES journal(nr),
    business_date TEXT    NOT NULL UNIQUE,
    period_start  TEXT    NOT NULL,
    period_end    TEXT    NOT NULL,
    last_nr       INTEGER NOT NULL,
    pdf           BLOB
);

CREATE TABLE products (
    sku        TEXT PRIMARY KEY,
    name       TEXT    NOT NULL,
    price      INTEGER NOT NULL CHECK (price >= 0),
    vat_rate   INTEGER NOT NULL CHECK (vat_rate IN (0, 25)),
    grp        TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
CREATE INDEX products_by_group ON products(grp);

CREATE TABLE barcodes (
    code TEXT PRIMARY KEY,
    sku  TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX barcodes_by_sku ON barcodes(sku);

CREATE TABLE accounts (
    key    TEXT PRIMARY KEY,
    number INTEGER NOT NULL
);

CREATE TABLE cashiers (
    id       TEXT PRIMARY KEY,
    name     TEXT    NOT NULL,
    role     TEXT    NOT NULL CHECK (role IN ('cashier', 'manager')),
    pin_hash TEXT    NOT NULL,
    active   INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE parked (
    id        INTEGER PRIMARY KEY,
    cashier   TEXT NOT NULL,
    parked_at TEXT NOT NULL,
    basket    TEXT NOT NULL
);
