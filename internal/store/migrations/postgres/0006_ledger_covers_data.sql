-- A ledger entry covers exactly the rows its transaction committed: each
-- event and quarantined record names the entry that inserted it (entry),
-- each reviewed record the review that changed its status
-- (reviewed_entry), and the entry carries a digest of those rows (see
-- internal/store/digest.go). Entries written before this have kind '' and
-- no digest, and verify by their chain alone; a source's rows from before
-- are taken into the ledger by its next entry (kind 'adopt').
ALTER TABLE ledger
    ADD COLUMN kind               text NOT NULL DEFAULT '',
    ADD COLUMN actor              text NOT NULL DEFAULT '',
    ADD COLUMN amount_duplicates  text NOT NULL DEFAULT '',
    ADD COLUMN amount_quarantined text NOT NULL DEFAULT '',
    ADD COLUMN amount_rejected    text NOT NULL DEFAULT '',
    ADD COLUMN digest             text NOT NULL DEFAULT '',
    ADD COLUMN detail             text NOT NULL DEFAULT '';
-- Which sources the ledger covers, and a review's entry by its ID (run_id).
CREATE INDEX ledger_source_run ON ledger (source, run_id);

-- Events of financial sources name their entry (NULL for the others). No
-- index on it: a commit reads its own events back by the range of seq it
-- took, and verification reads them all.
ALTER TABLE events ADD COLUMN entry bigint;

-- The event a quarantined record mapped to (JSON; '' when it never became
-- one) is what a release loads, exactly as the reviewer saw it.
ALTER TABLE quarantine
    ADD COLUMN entry          bigint,
    ADD COLUMN reviewed_entry bigint,
    ADD COLUMN event          text NOT NULL DEFAULT '',
    ADD COLUMN hold_key       text;
CREATE INDEX quarantine_entry ON quarantine (entry) WHERE entry IS NOT NULL;
CREATE INDEX quarantine_reviewed_entry ON quarantine (reviewed_entry) WHERE reviewed_entry IS NOT NULL;
CREATE INDEX quarantine_source_status ON quarantine (source, status, id);

-- A record is held once, whatever runs at the same time: hold_key is its
-- record hash, unique per source. Records held twice before this keep a
-- NULL hold_key but the first.
UPDATE quarantine SET hold_key = record_hash
    WHERE id IN (SELECT min(id) FROM quarantine GROUP BY source, record_hash);
CREATE UNIQUE INDEX quarantine_held_once ON quarantine (source, hold_key);
DROP INDEX quarantine_source_hash;
