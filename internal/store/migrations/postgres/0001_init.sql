-- Amounts of events and runs are NUMERIC, exact. The ledger keeps its
-- amounts as TEXT: they are hashed exactly as written, and NUMERIC would
-- normalise them ("007" to "7") and so break the hash.

CREATE TABLE events (
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    namespace   text        NOT NULL,
    user_id     text        NOT NULL,
    touchpoint  text        NOT NULL,
    system      text        NOT NULL,
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    amount      numeric,
    currency    text        NOT NULL DEFAULT '',
    attributes  jsonb,
    run_id      text        NOT NULL,
    ingested_at timestamptz NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX events_namespace_touchpoint_user ON events (namespace, touchpoint, user_id);
CREATE INDEX events_namespace_user_occurred ON events (namespace, user_id, occurred_at);

CREATE TABLE quarantine (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source     text        NOT NULL,
    run_id     text        NOT NULL,
    event_id   text        NOT NULL DEFAULT '',
    check_name text        NOT NULL,
    reason     text        NOT NULL,
    raw        bytea, -- as read; not necessarily valid JSON when decoding failed
    at         timestamptz NOT NULL,
    status     text        NOT NULL DEFAULT 'Pending' CHECK (status IN ('Pending', 'Released', 'Discarded')),
    record_hash text       NOT NULL DEFAULT ''
);
CREATE INDEX quarantine_source_id ON quarantine (source, id);
-- record_hash (store.RecordHash of raw) finds an exact redelivery of a held record.
CREATE INDEX quarantine_source_hash ON quarantine (source, record_hash);

CREATE TABLE unique_keys (
    source      text        NOT NULL,
    check_name  text        NOT NULL,
    key         text        NOT NULL,
    event_id    text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (source, check_name, key)
);

CREATE TABLE runs (
    id            text        PRIMARY KEY,
    source        text        NOT NULL,
    outcome       text        NOT NULL,
    message       text        NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    read          bigint      NOT NULL,
    accepted      bigint      NOT NULL,
    duplicates    bigint      NOT NULL,
    quarantined   bigint      NOT NULL,
    rejected      bigint      NOT NULL,
    warnings      bigint      NOT NULL,
    amount_read   numeric, -- NULL for ""
    amount_loaded numeric, -- NULL for ""
    currency      text        NOT NULL,
    cursor        text        NOT NULL,
    config_hash   text        NOT NULL,
    ledger_hash   text        NOT NULL
);
CREATE INDEX runs_source_started ON runs (source, started_at DESC, id DESC);

CREATE TABLE cursors (
    source     text        PRIMARY KEY,
    cursor     text        NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE ledger (
    seq           bigint      PRIMARY KEY,
    source        text        NOT NULL,
    run_id        text        NOT NULL,
    at            timestamptz NOT NULL,
    config_hash   text        NOT NULL,
    read          bigint      NOT NULL,
    accepted      bigint      NOT NULL,
    duplicates    bigint      NOT NULL,
    quarantined   bigint      NOT NULL,
    rejected      bigint      NOT NULL,
    amount_read   text        NOT NULL,
    amount_loaded text        NOT NULL,
    cursor        text        NOT NULL,
    prev_hash     text        NOT NULL,
    hash          text        NOT NULL
);

-- The chain's newest entry, one row. Appenders lock it (SELECT ... FOR
-- UPDATE), which serialises them across pods; verifying compares the walk's
-- end with it, so that deleting the newest entries is noticed.
CREATE TABLE ledger_head (
    id   smallint PRIMARY KEY CHECK (id = 1),
    seq  bigint   NOT NULL,
    hash text     NOT NULL
);
INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '');
