-- Every event pays for every index on the way in: with the primary key and
-- three b-trees, COPY into events cost eight times a COPY into a bare table
-- (bench-ingest). These are the indexes the store's queries need, made
-- cheaper to keep:
--
-- * One index on users serves both lookups by user: a relationship check's
--   (namespace, touchpoint, user) and the events of given users. It leads
--   with user_id, the column that tells keys apart, and its keys repeat (a
--   user's events of one touchpoint), so b-tree deduplication keeps it small.
--   (namespace, user_id, occurred_at) was unique per event and cost 3.7 µs
--   an event to keep, this one 2.2 µs.
-- * Keys lead with the column that differs from row to row: a comparison
--   then rarely reads past it, where one leading with the source compared
--   the same source text first, every time.
-- * Identifiers compare as bytes (COLLATE "C"), whatever the database's
--   own collation: an ID has no linguistic order, and comparing by a
--   locale's rules made writing events a half slower again (measured with
--   ICU's en-US).
-- * The newest event of each source is kept in source_seq by the commit
--   that writes it, and "events after a watermark" are a range of an index
--   on seq alone: its keys only grow, so each goes into the index's last
--   page, which PostgreSQL keeps at hand, where (source, seq) inserted in
--   the middle whenever sources interleave. (A BRIN index would be cheaper
--   still, but until VACUUM summarises the newest pages it reads them all,
--   and an incremental evaluation after a large load read everything.)
DROP INDEX events_namespace_touchpoint_user;
DROP INDEX events_namespace_user_occurred;
DROP INDEX events_source_seq;
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events
    ALTER COLUMN source     TYPE text COLLATE "C",
    ALTER COLUMN event_id   TYPE text COLLATE "C",
    ALTER COLUMN namespace  TYPE text COLLATE "C",
    ALTER COLUMN user_id    TYPE text COLLATE "C",
    ALTER COLUMN touchpoint TYPE text COLLATE "C";
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (event_id, source);
CREATE INDEX events_user_touchpoint ON events (user_id, touchpoint, namespace);
CREATE INDEX events_seq ON events (seq);

ALTER TABLE unique_keys DROP CONSTRAINT unique_keys_pkey;
ALTER TABLE unique_keys
    ALTER COLUMN source     TYPE text COLLATE "C",
    ALTER COLUMN check_name TYPE text COLLATE "C",
    ALTER COLUMN key        TYPE text COLLATE "C";
ALTER TABLE unique_keys ADD CONSTRAINT unique_keys_pkey PRIMARY KEY (key, check_name, source);

-- The ingestion sequence of each source's newest event (store.LatestSeq).
-- A commit sets it, for each source of its events, to the last sequence
-- number it took; evaluators read it as their watermark.
CREATE TABLE source_seq (
    source text COLLATE "C" PRIMARY KEY,
    seq    bigint NOT NULL
);
INSERT INTO source_seq (source, seq) SELECT source, max(seq) FROM events GROUP BY source;
