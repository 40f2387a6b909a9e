-- Every event pays for every index on the way in: with the primary key and
-- three b-trees, COPY into events cost six times a COPY into a bare table
-- (bench-ingest). These are the indexes the store's queries need, made
-- cheaper to keep:
--
-- * One index on users serves both lookups by user: a relationship check's
--   (namespace, touchpoint, user) and the events of given users. It leads
--   with user_id, the column that tells keys apart, and its keys repeat (a
--   user's events of one touchpoint), so b-tree deduplication keeps it small.
--   (namespace, user_id, occurred_at) was unique per event and cost twice
--   as much to keep.
-- * Keys lead with the column that differs from row to row: a comparison
--   then rarely reads past it, where one leading with the source compared
--   the same source text first, every time.
-- * The newest event of each source is kept in source_seq by the commit
--   that writes it, and "events after a watermark" read the newest pages of
--   a BRIN index on seq (events are appended in seq order), where the
--   (source, seq) b-tree took an entry per event.
CREATE INDEX events_user_touchpoint ON events (user_id, touchpoint, namespace);
DROP INDEX events_namespace_touchpoint_user;
DROP INDEX events_namespace_user_occurred;

ALTER TABLE events DROP CONSTRAINT events_pkey, ADD CONSTRAINT events_pkey PRIMARY KEY (event_id, source);
ALTER TABLE unique_keys DROP CONSTRAINT unique_keys_pkey, ADD CONSTRAINT unique_keys_pkey PRIMARY KEY (key, check_name, source);

-- The ingestion sequence of each source's newest event (store.LatestSeq).
-- A commit sets it, for each source of its events, to the last sequence
-- number it took; evaluators read it as their watermark.
CREATE TABLE source_seq (
    source text   PRIMARY KEY,
    seq    bigint NOT NULL
);
INSERT INTO source_seq (source, seq) SELECT source, max(seq) FROM events GROUP BY source;
DROP INDEX events_source_seq;
CREATE INDEX events_seq ON events USING brin (seq);
