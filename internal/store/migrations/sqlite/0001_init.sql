-- Times are UTC text of fixed width, "2006-01-02T15:04:05.000000Z", so that
-- they sort and compare as strings and stay readable in the sqlite3 shell.
-- Amounts are exact decimal text: SQLite has no decimal type, and REAL
-- would round. Sum them with decimal arithmetic, never SUM().

CREATE TABLE events (
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
    PRIMARY KEY (source, event_id)
);
CREATE INDEX events_namespace_touchpoint_user ON events (namespace, touchpoint, user_id);
CREATE INDEX events_namespace_user_occurred ON events (namespace, user_id, occurred_at);

CREATE TABLE quarantine (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    source     TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    event_id   TEXT NOT NULL DEFAULT '',
    check_name TEXT NOT NULL,
    reason     TEXT NOT NULL,
    raw        BLOB,
    at         TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'Pending' CHECK (status IN ('Pending', 'Released', 'Discarded')),
    record_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX quarantine_source_id ON quarantine (source, id);
-- record_hash (store.RecordHash of raw) finds an exact redelivery of a held record.
CREATE INDEX quarantine_source_hash ON quarantine (source, record_hash);

CREATE TABLE unique_keys (
    source      TEXT NOT NULL,
    check_name  TEXT NOT NULL,
    key         TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    PRIMARY KEY (source, check_name, key)
);

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    message       TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    read          INTEGER NOT NULL,
    accepted      INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    quarantined   INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    warnings      INTEGER NOT NULL,
    amount_read   TEXT NOT NULL,
    amount_loaded TEXT NOT NULL,
    currency      TEXT NOT NULL,
    cursor        TEXT NOT NULL,
    config_hash   TEXT NOT NULL,
    ledger_hash   TEXT NOT NULL
);
CREATE INDEX runs_source_started ON runs (source, started_at DESC, id DESC);

CREATE TABLE cursors (
    source     TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE ledger (
    seq           INTEGER PRIMARY KEY,
    source        TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    at            TEXT NOT NULL,
    config_hash   TEXT NOT NULL,
    read          INTEGER NOT NULL,
    accepted      INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    quarantined   INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    amount_read   TEXT NOT NULL,
    amount_loaded TEXT NOT NULL,
    cursor        TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);

-- The chain's newest entry, one row: appending reads and moves it in the
-- same transaction, and verifying compares the walk's end with it, so that
-- deleting the newest entries is noticed.
CREATE TABLE ledger_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '');
