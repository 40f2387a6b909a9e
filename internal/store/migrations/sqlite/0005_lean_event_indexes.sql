-- Every event pays for every index on the way in: the events table had its
-- primary key and three more, and inserting into it cost seven times as
-- much as into a bare table (bench-ingest). These are the indexes the
-- store's queries need:
--
-- * One index on users serves both lookups by user: a relationship check's
--   (namespace, touchpoint, user) and the events of given users, leading
--   with user_id, the column that tells keys apart.
-- * The newest event of each source is kept in source_seq by the commit
--   that writes it; "events after a watermark" are a range of rowid, the
--   table's own key, and need no index.
CREATE INDEX events_user_touchpoint ON events (user_id, touchpoint, namespace);
DROP INDEX events_namespace_touchpoint_user;
DROP INDEX events_namespace_user_occurred;

-- The ingestion sequence (rowid) of each source's newest event
-- (store.LatestSeq), set by the commit that writes it.
CREATE TABLE source_seq (
    source TEXT    PRIMARY KEY,
    seq    INTEGER NOT NULL
);
INSERT INTO source_seq (source, seq) SELECT source, max(rowid) FROM events GROUP BY source;
DROP INDEX events_source_rowid;

-- Unique-check keys are looked up and written by their primary key only:
-- kept in it (WITHOUT ROWID), one b-tree instead of a table and an index,
-- and led by the key, the column that differs from row to row.
CREATE TABLE unique_keys_new (
    source      TEXT NOT NULL,
    check_name  TEXT NOT NULL,
    key         TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    PRIMARY KEY (key, check_name, source)
) WITHOUT ROWID;
INSERT INTO unique_keys_new (source, check_name, key, event_id, occurred_at)
    SELECT source, check_name, key, event_id, occurred_at FROM unique_keys;
DROP TABLE unique_keys;
ALTER TABLE unique_keys_new RENAME TO unique_keys;
