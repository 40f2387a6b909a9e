-- An ingestion sequence for evaluators' watermarks: SQLite's rowid, which
-- only grows as events are inserted (events are never deleted). An index
-- on source keeps "newer than" scans per source cheap.
CREATE INDEX events_source_rowid ON events (source);
