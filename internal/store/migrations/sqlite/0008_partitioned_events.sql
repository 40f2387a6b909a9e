-- SQLite has no partitions: its retention deletes the retired months' rows
-- (store.Retire). The retention horizon and what the ledger keeps of
-- retired rows are as in PostgreSQL's 0008.
--
-- Events are numbered by their rowid, and SQLite gives a new row the
-- largest rowid plus one: once retirement deletes the newest rows (a
-- backfill of old months), numbers would be given again, below the
-- evaluators' watermarks. AUTOINCREMENT never gives a number twice, and
-- needs the rowid as a column of its own: the table is rebuilt with seq.
CREATE TABLE events_new (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    touchpoint  TEXT NOT NULL,
    system      TEXT NOT NULL,
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    amount      TEXT,
    currency    TEXT NOT NULL DEFAULT '',
    attributes  TEXT, -- JSON object
    run_id      TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    entry       INTEGER,
    UNIQUE (source, event_id)
);
INSERT INTO events_new (seq, source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount, currency,
    attributes, run_id, ingested_at, entry)
    SELECT rowid, source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount, currency,
    attributes, run_id, ingested_at, entry FROM events ORDER BY rowid;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_user_touchpoint ON events (user_id, touchpoint, namespace);

CREATE TABLE retention (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    horizon TEXT
);
INSERT INTO retention (id, horizon) VALUES (1, NULL);

CREATE TABLE retired_rows (
    retire_entry INTEGER NOT NULL,
    entry        INTEGER NOT NULL,
    row_hash     TEXT    NOT NULL,
    amount       TEXT
);
CREATE INDEX retired_rows_entry ON retired_rows (entry);
