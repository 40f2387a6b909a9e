package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The plain Kafka consumer, the floor `journey consume` is measured
// against: franz-go in a consumer group, each poll (at most as many
// records as journey's maxPollRecords) decoded and written with one pgx
// CopyFrom into a table keyed by the events' key, then the group's
// offsets committed to Kafka. At least once: a record read again after a
// crash between the COPY and Kafka's commit fails the COPY on its key, a
// case the floor does not handle and journey does. It writes done once
// it has committed want records, and runs until SIGTERM.

const plainKafkaTable = `CREATE TABLE IF NOT EXISTS plays (
	event_id text COLLATE "C" PRIMARY KEY, user_id text NOT NULL, type text NOT NULL, occurred_at timestamptz NOT NULL,
	attributes jsonb, kafka_topic text NOT NULL, kafka_partition int NOT NULL, kafka_offset bigint NOT NULL)`

type playRecord struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	At      time.Time `json:"at"`
	Minutes int64     `json:"minutes"`
	Device  string    `json:"device"`
}

func consumePlain(dsn, brokers, topic, group, done string, want, maxPoll int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, plainKafkaTable); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
		kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	cols := []string{"event_id", "user_id", "type", "occurred_at", "attributes", "kafka_topic", "kafka_partition", "kafka_offset"}
	rows := make([][]any, 0, maxPoll)
	committed := 0
	for ctx.Err() == nil {
		fetches := cl.PollRecords(ctx, maxPoll)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		if err := fetches.Err0(); err != nil {
			fmt.Fprintln(os.Stderr, "plain consumer: fetch:", err)
		}
		recs := fetches.Records()
		if len(recs) == 0 {
			continue
		}
		rows = rows[:0]
		for _, r := range recs {
			var p playRecord
			if err := json.Unmarshal(r.Value, &p); err != nil {
				return fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			attrs, _ := json.Marshal(map[string]any{"minutes": p.Minutes, "device": p.Device})
			rows = append(rows, []any{p.ID, p.User, "playback.minutes", p.At, string(attrs), r.Topic, r.Partition, r.Offset})
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"plays"}, cols, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			fmt.Fprintln(os.Stderr, "plain consumer: Kafka commit:", err)
		}
		committed += len(recs)
		if committed >= want && done != "" {
			if err := os.WriteFile(done, []byte("done\n"), 0o644); err != nil {
				return err
			}
			done = ""
		}
	}
	return nil
}
