package consumer

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

// pg is one throwaway PostgreSQL for the test binary; each test gets a
// database of its own.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

const (
	sourceID = "media/plays"
	group    = "journey-plays"
	// wait bounds how long a test waits for what must happen; no test
	// asserts how long anything took.
	wait = 90 * time.Second
)

// backends runs a test on SQLite and on a real PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite://"+filepath.Join(t.TempDir(), "journey.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, pg.DSN(t)) })
}

func openStore(t *testing.T, dsn string) store.StreamStore {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(store.StreamStore)
}

// cluster starts kfake, franz-go's in-process broker, with short group
// timeouts so that rebalances settle quickly. opts add to it (a fixed
// port, a data folder to restart from).
func cluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func source(brokers []string, topic string, maxPoll int32) runconfig.Source {
	return runconfig.Source{
		Version: runconfig.Version, Namespace: "media", Name: "plays",
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "playback", System: "player",
			Stream: &v1alpha1.StreamSource{Kafka: &v1alpha1.KafkaStream{
				Brokers: brokers, Topics: []string{topic}, ConsumerGroup: group, MaxPollRecords: maxPoll,
			}},
			Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.user",
				OccurredAt: "timestamp(record.at)", Type: `"playback.minutes"`,
				Attributes: map[string]v1alpha1.Expression{"minutes": "record.minutes"}},
		},
	}
}

// running is a consumer whose Run returned err once stopped is closed.
type running struct {
	*Consumer
	stopped chan struct{}
	err     error
}

func start(t *testing.T, st store.StreamStore, src runconfig.Source, before func(context.Context, *store.Batch) error) *running {
	t.Helper()
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(env, src)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Source: src, Pipeline: p, Store: st, Registerer: prometheus.NewRegistry(), BeforeCommit: before,
		RetryBackoff: 100 * time.Millisecond,
		ClientOpts: []kgo.Opt{kgo.FetchMaxWait(200 * time.Millisecond), kgo.SessionTimeout(2 * time.Second),
			kgo.HeartbeatInterval(200 * time.Millisecond), kgo.RebalanceTimeout(5 * time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })}})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{Consumer: c, stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.err = c.Run(ctx); close(r.stopped) }()
	t.Cleanup(func() { cancel(); c.Close(); <-r.stopped })
	return r
}

func (r *running) count(outcome string) int {
	return int(testutil.ToFloat64(r.metrics.records.WithLabelValues(outcome)))
}

// play is the JSON value of record i.
func play(i int) []byte {
	return fmt.Appendf(nil, `{"id":"play-%04d","user":"u%d","at":"2026-11-30T10:%02d:%02dZ","minutes":%d}`, i, i%7, (i/60)%60, i%60, i%90)
}

// produce writes records for ids [from, to) round-robin over partitions.
func produce(t *testing.T, brokers []string, topic string, partitions int32, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: play(i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func produceValues(t *testing.T, brokers []string, topic string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range values {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("play-%04d", i))
	}
	return out
}

// stored counts which of ids the store holds.
func stored(t *testing.T, st store.Store, want []string) int {
	t.Helper()
	got, err := st.ExistingEvents(context.Background(), sourceID, want)
	if err != nil {
		t.Fatal(err)
	}
	return len(got)
}

// eventually polls cond until it holds, failing with what after wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// storeOffsets are the store's next offsets by partition.
func storeOffsets(t *testing.T, st store.StreamStore) map[int32]int64 {
	t.Helper()
	os, err := st.StreamOffsets(context.Background(), sourceID, group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, o := range os {
		out[o.Partition.Partition] = o.Next
	}
	return out
}

// commitKafkaOffsets sets the group's offsets in Kafka itself, as a tool
// or an old consumer might, behind the store's back.
func commitKafkaOffsets(t *testing.T, brokers []string, topic string, offsets map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MaxVersions(kversion.V3_0_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// By name, as OffsetCommit before v10 does: a topic's ID is not known here.
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, o, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				t.Fatalf("committing Kafka offset of %s/%d: %v", tp.Topic, p.Partition, err)
			}
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
