-- Where each Kafka partition a stream source consumes stands: the next
-- offset to read, committed in the same transaction as the events read
-- before it, so that the store, not the broker, says what was stored.
-- epoch grows each time a consumer claims the partition (on every
-- assignment); a commit names the epoch it claimed and the offset it
-- started from, and changes nothing when either moved: a consumer that
-- lost the partition in a rebalance cannot write. next_offset -1: claimed,
-- nothing committed yet.
CREATE TABLE stream_offsets (
    source         text NOT NULL,
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    partition_id   bigint NOT NULL,
    next_offset    bigint NOT NULL,
    epoch          bigint NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (source, consumer_group, topic, partition_id)
);
