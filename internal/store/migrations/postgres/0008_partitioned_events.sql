-- Events are partitioned by month of occurred_at, so that a retention
-- policy drops whole months (store.Retire) instead of deleting rows one by
-- one, and a month's partition is the unit a distributed PostgreSQL moves.
--
-- A partitioned table's unique keys must contain its partition column, and
-- occurred_at is not part of what makes an event the same: a Segment
-- message sent again has the same messageId but a timestamp corrected from
-- another receivedAt. So exactly-once moves to event_keys, one row per
-- (event_id, source), written before the event itself in the same
-- transaction; events keeps no unique key. Retiring a month deletes its
-- events' keys by joining them to the partition it drops.
CREATE TABLE event_keys (
    event_id text COLLATE "C" NOT NULL,
    source   text COLLATE "C" NOT NULL,
    PRIMARY KEY (event_id, source)
);

ALTER TABLE events RENAME TO events_before_0008;
ALTER TABLE events_before_0008 RENAME CONSTRAINT events_pkey TO events_before_0008_pkey;
ALTER INDEX events_user_touchpoint RENAME TO events_before_0008_user_touchpoint;
ALTER INDEX events_seq RENAME TO events_before_0008_seq;

-- A sequence of its own instead of an identity column (PostgreSQL 15 has
-- none on partitioned tables); OWNED BY keeps pg_get_serial_sequence
-- finding it.
CREATE SEQUENCE events_seq_number AS bigint;
CREATE TABLE events (
    source      text COLLATE "C" NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    namespace   text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    touchpoint  text COLLATE "C" NOT NULL,
    system      text        NOT NULL,
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    amount      numeric,
    currency    text        NOT NULL DEFAULT '',
    attributes  jsonb,
    run_id      text        NOT NULL,
    ingested_at timestamptz NOT NULL,
    seq         bigint      NOT NULL DEFAULT nextval('events_seq_number'),
    entry       bigint
) PARTITION BY RANGE (occurred_at);
ALTER SEQUENCE events_seq_number OWNED BY events.seq;

-- One partition per month that has events, named events_yYYYYmMM, bounds
-- in UTC (store.monthPartition makes the same ones for new months).
DO $$
DECLARE m timestamptz;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
             FROM events_before_0008 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
            to_char(m AT TIME ZONE 'UTC', '"events_y"YYYY"m"MM'), m, (m AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC');
    END LOOP;
END $$;

-- Rows first, indexes after: building an index once is cheaper than
-- keeping it row by row.
INSERT INTO events SELECT source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount, currency,
    attributes, run_id, ingested_at, seq, entry FROM events_before_0008;
INSERT INTO event_keys (event_id, source) SELECT event_id, source FROM events_before_0008;
SELECT setval('events_seq_number', COALESCE((SELECT max(seq) FROM events_before_0008), 0) + 1, false);
DROP TABLE events_before_0008;
CREATE INDEX events_user_touchpoint ON events (user_id, touchpoint, namespace);
CREATE INDEX events_seq ON events (seq);

-- The store's retention: events that occurred before horizon are retired
-- (their partitions dropped) and a commit refuses them. NULL: none yet.
CREATE TABLE retention (
    id      smallint PRIMARY KEY CHECK (id = 1),
    horizon timestamptz
);
INSERT INTO retention (id, horizon) VALUES (1, NULL);

-- What the ledger keeps of rows retired by policy: for each event a ledger
-- entry covered, the hash its entry's digest was computed from (see
-- digest.go), and the retire entry that recorded it. An entry whose rows
-- are partly or wholly retired still verifies from its rows and these; the
-- retire entry's own digest covers these rows.
CREATE TABLE retired_rows (
    retire_entry bigint NOT NULL,
    entry        bigint NOT NULL,
    row_hash     text   NOT NULL,
    amount       text
);
CREATE INDEX retired_rows_entry ON retired_rows (entry);
