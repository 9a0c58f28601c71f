-- SAF-T Cash Register DK. Cash transactions: the journal's money-moving entries as the tax
-- authority's file holds them. `nr` is one gap-free sequence per CVR across all registers
-- (cashtransaction/nr); `chain_seq` orders one register's signature chain. Every text column holds
-- exactly what was signed and is written into the file. Append-only, like the journal.
CREATE TABLE cash_transactions (
    nr           INTEGER PRIMARY KEY,
    journal_nr   INTEGER NOT NULL UNIQUE REFERENCES journal(nr),
    register_id  TEXT    NOT NULL,
    chain_seq    INTEGER NOT NULL,
    trans_id     TEXT    NOT NULL,
    trans_type   TEXT    NOT NULL,
    trans_date   TEXT    NOT NULL,
    trans_time   TEXT    NOT NULL,
    emp_id       TEXT    NOT NULL,
    amnt_in      TEXT    NOT NULL,
    amnt_ex      TEXT    NOT NULL,
    amnt_tp      TEXT    NOT NULL CHECK (amnt_tp IN ('C', 'D')),
    void         INTEGER NOT NULL,
    training     INTEGER NOT NULL,
    signed_text  TEXT    NOT NULL,
    signature    TEXT    NOT NULL,
    key_version  INTEGER NOT NULL,
    backfilled   INTEGER NOT NULL DEFAULT 0,   -- signed at the upgrade, for an entry made before it
    UNIQUE (register_id, chain_seq)
);

CREATE TRIGGER cash_transactions_no_update BEFORE UPDATE ON cash_transactions
BEGIN SELECT RAISE(ABORT, 'cash transactions are append-only: UPDATE refused'); END;

CREATE TRIGGER cash_transactions_no_delete BEFORE DELETE ON cash_transactions
BEGIN SELECT RAISE(ABORT, 'cash transactions are append-only: DELETE refused'); END;

CREATE TRIGGER cash_transactions_gap_free BEFORE INSERT ON cash_transactions
WHEN NEW.nr IS NULL OR NEW.nr <> (SELECT COALESCE(MAX(nr), 0) + 1 FROM cash_transactions)
BEGIN SELECT RAISE(ABORT, 'cash transaction numbers are gap-free per CVR'); END;

-- The journal entries before this upgrade get their cash transactions signed once, at the first
-- open after it (the SQL here has no key); only entries up to this number may be back-filled.
INSERT INTO meta (key, value) SELECT 'saft.backfill_upto', CAST(COALESCE(MAX(nr), 0) AS TEXT) FROM journal;

-- Several Zs a day (a shift close, a close after midnight): the business date is no longer unique.
-- Each Z now records the last cash transaction it covers (its number and signature, also in the Z).
CREATE TABLE z_reports_new (
    z_number      INTEGER PRIMARY KEY,
    journal_nr    INTEGER NOT NULL UNIQUE REFERENCES journal(nr),
    business_date TEXT    NOT NULL,
    period_start  TEXT    NOT NULL,
    period_end    TEXT    NOT NULL,
    last_nr       INTEGER NOT NULL,
    pdf           BLOB,
    last_tx_nr    INTEGER
);
INSERT INTO z_reports_new (z_number, journal_nr, business_date, period_start, period_end, last_nr, pdf)
    SELECT z_number, journal_nr, business_date, period_start, period_end, last_nr, pdf FROM z_reports;
DROP TABLE z_reports;
ALTER TABLE z_reports_new RENAME TO z_reports;
CREATE INDEX z_reports_by_date ON z_reports(business_date);
