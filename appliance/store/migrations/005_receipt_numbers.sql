-- Receipt numbers come from the signed journal, never from a table outside it: the next number is
-- one past the highest a sale or return entry holds (this index makes that one lookup). The
-- receipts table stays as an index of the journal, and journal verify checks it against it.
CREATE INDEX journal_receipt_numbers ON journal(json_extract(payload, '$.receipt_number'))
    WHERE kind IN ('sale', 'return');
