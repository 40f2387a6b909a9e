-- An ingestion sequence: evaluators read only events newer than the last
-- one they saw (their watermark).
ALTER TABLE events ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX events_source_seq ON events (source, seq);
