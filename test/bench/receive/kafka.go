package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The Kafka phase: one topic of records over partitions, produced once
// into franz-go's in-process broker (kfake, in this process), then read
// from the start by `journey consume` and by the plain consumer, each in
// a group and a database of its own per round. Each is timed from its
// process's start until every record is committed to PostgreSQL (journey:
// the store's stream offsets cover the topic; plain: it says so).

const kafkaTopic = "plays"

type kafkaBench struct {
	cluster *kfake.Cluster
	brokers string
	records int
	maxPoll int
}

func newKafkaBench(records, partitions, maxPoll int) (*kafkaBench, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), kafkaTopic))
	if err != nil {
		return nil, err
	}
	k := &kafkaBench{cluster: c, brokers: c.ListenAddrs()[0], records: records, maxPoll: maxPoll}
	if err := k.produce(partitions); err != nil {
		c.Close()
		return nil, err
	}
	return k, nil
}

func (k *kafkaBench) close() { k.cluster.Close() }

func (k *kafkaBench) produce(partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	at := time.Now().UTC().Add(-time.Hour)
	devices := []string{"tv", "ios", "android", "web"}
	ctx := context.Background()
	const chunk = 10_000
	for from := 0; from < k.records; from += chunk {
		recs := make([]*kgo.Record, 0, chunk)
		for i := from; i < min(from+chunk, k.records); i++ {
			v := fmt.Appendf(nil, `{"id":"play-%09d","user":"cus_%06d","at":%q,"minutes":%d,"device":%q}`,
				i, i%customers, at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i%90, devices[i%len(devices)])
			recs = append(recs, &kgo.Record{Topic: kafkaTopic, Partition: int32(i % partitions), Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return err
		}
	}
	return nil
}

// streamSource is the TouchpointSource `journey consume` runs.
func (k *kafkaBench) streamSource(group string) string {
	return fmt.Sprintf(`apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata: {name: plays, namespace: bench}
spec:
  touchpoint: playback
  system: player
  stream:
    kafka:
      brokers: [%q]
      topics: [%s]
      consumerGroup: %s
      maxPollRecords: %d
  mapping:
    eventID: record.id
    userID: record.user
    occurredAt: timestamp(record.at)
    type: '"playback.minutes"'
    attributes:
      minutes: record.minutes
      device: record.device
`, k.brokers, kafkaTopic, group, k.maxPoll)
}

// journey times `journey consume` through the topic.
func (k *kafkaBench) journey(ctx context.Context, binary, dir, dsn, group string) (result, error) {
	src := filepath.Join(dir, "consume-"+group)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return result{}, err
	}
	if err := os.WriteFile(filepath.Join(src, "source.yaml"), []byte(k.streamSource(group)), 0o644); err != nil {
		return result{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return result{}, err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return result{}, err
	}
	defer conn.Close(ctx)
	busy0, total0 := machineCPU()
	start := time.Now()
	c, err := startChild("journey consume", []string{binary, "consume", "-f", src, "--source", "plays", "--store", dsn, "--listen", addr})
	if err != nil {
		return result{}, err
	}
	defer c.stop()
	for {
		var next int64
		// Before the store's migrations ran, the table is not there yet.
		_ = conn.QueryRow(ctx, `SELECT coalesce(sum(greatest(next_offset, 0)), 0) FROM stream_offsets WHERE consumer_group = $1`, group).Scan(&next)
		if next >= int64(k.records) {
			break
		}
		if err := k.waitStep(c); err != nil {
			return result{}, err
		}
	}
	return k.finish(ctx, c, start, busyShare(busy0, total0), conn, `SELECT count(*) FROM events WHERE source = 'bench/plays'`)
}

// plain times the plain consumer (this binary, -serve consume) through
// the topic.
func (k *kafkaBench) plain(ctx context.Context, self, dir, dsn, group string) (result, error) {
	done := filepath.Join(dir, "done-"+group)
	busy0, total0 := machineCPU()
	start := time.Now()
	c, err := startChild("plain consumer", []string{self, "-serve", "consume", "-dsn", dsn, "-brokers", k.brokers, "-group", group,
		"-done", done, "-kafka-records", fmt.Sprint(k.records), "-max-poll", fmt.Sprint(k.maxPoll)})
	if err != nil {
		return result{}, err
	}
	defer c.stop()
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if err := k.waitStep(c); err != nil {
			return result{}, err
		}
	}
	busy := busyShare(busy0, total0)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return result{}, err
	}
	defer conn.Close(ctx)
	return k.finish(ctx, c, start, busy, conn, `SELECT count(*) FROM plays`)
}

func (k *kafkaBench) waitStep(c *child) error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited: %v", c.name, c.err)
	case <-time.After(20 * time.Millisecond):
		return nil
	}
}

// finish reads the child's figures, then checks every record is stored.
func (k *kafkaBench) finish(ctx context.Context, c *child, start time.Time, busy float64, conn *pgx.Conn, count string) (result, error) {
	r := result{elapsed: time.Since(start), rss: c.peakRSS(), cpu: c.cpu(), busy: busy, n: k.records}
	var n int
	if err := conn.QueryRow(ctx, count).Scan(&n); err != nil {
		return result{}, err
	}
	if n != k.records {
		return result{}, fmt.Errorf("%s stored %d rows of %d records", c.name, n, k.records)
	}
	return r, nil
}
