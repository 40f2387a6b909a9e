package consumer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// Two consumers of one group share a topic's partitions; the second joins
// while the first is reading, and the group rebalances. Every record is
// committed once: the two consumers' counts add up to what was produced,
// with no duplicate (a record read twice would count as one), and each
// partition's offset in the store stands at its end.
func TestRebalance(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		const topic, parts, n = "plays", 4, 400
		kf := cluster(t, kfake.SeedTopics(parts, topic))
		brokers := kf.ListenAddrs()
		st := openStore(t, dsn)
		produce(t, brokers, topic, parts, 0, n/2)

		first := start(t, st, source(brokers, topic, 20), nil)
		eventually(t, "the first consumer commits", func() bool { return first.count("accepted") > 0 })
		second := start(t, st, source(brokers, topic, 20), nil)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if _, err := kf.WaitGroupStable(ctx, group, 2); err != nil {
			t.Fatalf("the group did not settle with two members: %v", err)
		}
		produce(t, brokers, topic, parts, n/2, n)

		all := ids(0, n)
		eventually(t, "every record stored", func() bool { return stored(t, st, all) == n })
		eventually(t, "every offset stored", func() bool {
			o := storeOffsets(t, st)
			return o[0] == n/parts && o[1] == n/parts && o[2] == n/parts && o[3] == n/parts
		})
		// A batch is counted just after it commits.
		eventually(t, "every record counted", func() bool { return first.count("accepted")+second.count("accepted") >= n })
		if a, b := first.count("accepted"), second.count("accepted"); a+b != n || b == 0 {
			t.Fatalf("accepted %d + %d, want %d in all with some by the consumer that joined", a, b, n)
		}
		if d := first.count("duplicate") + second.count("duplicate"); d != 0 {
			t.Fatalf("%d records were read twice", d)
		}
		if q := first.count("quarantined") + second.count("quarantined"); q != 0 {
			t.Fatalf("%d records quarantined", q)
		}
	})
}

// A consumer killed after it polled and processed a batch, before the
// batch committed, leaves nothing of it; a restart reads it again from the
// store's offsets, not Kafka's (moved to the end here behind the store's
// back): every record is stored exactly once.
func TestKilledBetweenPollAndCommit(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		const topic, parts, n = "plays", 2, 100
		kf := cluster(t, kfake.SeedTopics(parts, topic))
		brokers := kf.ListenAddrs()
		st := openStore(t, dsn)
		produce(t, brokers, topic, parts, 0, n)

		errKilled := errors.New("killed between poll and commit")
		var batches atomic.Int32
		var killed []store.Event
		victim := start(t, st, source(brokers, topic, 10), func(_ context.Context, b *store.Batch) error {
			if batches.Add(1) == 3 {
				killed = b.Events
				return errKilled
			}
			return nil
		})
		<-victim.stopped
		if !errors.Is(victim.err, errKilled) {
			t.Fatalf("Run: %v, want the kill", victim.err)
		}
		victim.Close()
		if len(killed) == 0 {
			t.Fatal("the killed batch held no event")
		}
		before := stored(t, st, ids(0, n))
		if before != victim.count("accepted") || before >= n {
			t.Fatalf("%d stored after the kill, want the %d the committed batches accepted", before, victim.count("accepted"))
		}
		for _, e := range killed {
			if got, _ := st.ExistingEvents(context.Background(), sourceID, []string{e.EventID}); got[e.EventID] {
				t.Fatalf("event %s of the killed batch was stored", e.EventID)
			}
		}
		commitKafkaOffsets(t, brokers, topic, map[int32]int64{0: n / parts, 1: n / parts})

		restarted := start(t, st, source(brokers, topic, 10), nil)
		eventually(t, "every record stored", func() bool { return stored(t, st, ids(0, n)) == n })
		if a := victim.count("accepted") + restarted.count("accepted"); a != n {
			t.Fatalf("accepted %d in all, want %d", a, n)
		}
		if d := restarted.count("duplicate"); d != 0 {
			t.Fatalf("the restart read %d records again", d)
		}
	})
}

// A consumer whose partitions were claimed by another (as after a
// rebalance it missed) cannot commit: the batch fails with the reason,
// writes nothing, and the consumer rejoins, claims again and goes on, each
// record still stored once.
func TestStaleConsumerCannotWrite(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		const topic, parts, n = "plays", 2, 60
		kf := cluster(t, kfake.SeedTopics(parts, topic))
		brokers := kf.ListenAddrs()
		st := openStore(t, dsn)
		produce(t, brokers, topic, parts, 0, n)

		var usurped atomic.Bool
		var lost []store.Event
		c := start(t, st, source(brokers, topic, 10), func(ctx context.Context, b *store.Batch) error {
			if usurped.CompareAndSwap(false, true) {
				var ps []store.Partition
				for _, p := range b.Offsets.Partitions {
					ps = append(ps, p.Partition)
				}
				if _, err := st.ClaimPartitions(ctx, sourceID, group, ps); err != nil {
					return err
				}
				lost = b.Events
			}
			return nil
		})
		eventually(t, "every record stored", func() bool { return stored(t, st, ids(0, n)) == n })
		if f := testutil.ToFloat64(c.metrics.commitFailures.WithLabelValues(reasonStale)); f != 1 {
			t.Fatalf("%v stale commits, want 1", f)
		}
		if len(lost) == 0 {
			t.Fatal("the usurped batch held no event")
		}
		eventually(t, "every record counted", func() bool { return c.count("accepted") >= n })
		if a, d := c.count("accepted"), c.count("duplicate"); a != n || d != 0 {
			t.Fatalf("accepted %d with %d duplicates, want %d and none: the stale batch must have written nothing", a, d, n)
		}
	})
}

// Records that are not JSON objects, or that fail their mapping, are
// quarantined with the reason, and the partition goes on past them.
func TestPoisonRecord(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		const topic = "plays"
		kf := cluster(t, kfake.SeedTopics(1, topic))
		brokers := kf.ListenAddrs()
		st := openStore(t, dsn)
		produceValues(t, brokers, topic, string(play(0)), `{"id": "play-0001", oops`, `[1, 2]`,
			`{"id":"play-0003","user":"u3","at":"yesterday"}`, string(play(4)))

		c := start(t, st, source(brokers, topic, 500), nil)
		eventually(t, "the partition read to its end", func() bool { return storeOffsets(t, st)[0] == 5 })
		if got := stored(t, st, []string{"play-0000", "play-0004"}); got != 2 {
			t.Fatalf("%d of the good records stored, want both, the one after the poison too", got)
		}
		held, err := st.FindQuarantine(context.Background(), store.QuarantineFilter{Source: sourceID})
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, q := range held {
			reasons = append(reasons, q.Check+": "+q.Reason)
		}
		all := strings.Join(reasons, "\n")
		for _, want := range []string{
			"decode: Kafka record plays/0 at offset 1: not valid JSON",
			"decode: Kafka record plays/0 at offset 2: an array, not a JSON object",
			"mapping: ",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("no quarantined record says %q; they say:\n%s", want, all)
			}
		}
		eventually(t, "every record counted", func() bool { return c.count("quarantined")+c.count("accepted") >= 5 })
		if len(held) != 3 || c.count("quarantined") != 3 || c.count("accepted") != 2 {
			t.Fatalf("%d held, %d counted quarantined, %d accepted; want 3, 3, 2", len(held), c.count("quarantined"), c.count("accepted"))
		}
	})
}

// The broker goes away and comes back (same address, same data): the
// consumer says so meanwhile (/readyz, journey_stream_broker_up), keeps
// running, and goes on where the store stands.
func TestBrokerDownThenBack(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		const topic, parts, n = "plays", 2, 100
		dir, port := t.TempDir(), freePort(t)
		opts := []kfake.Opt{kfake.SeedTopics(parts, topic), kfake.DataDir(dir), kfake.Ports(port)}
		kf := cluster(t, opts...)
		brokers := kf.ListenAddrs()
		st := openStore(t, dsn)
		produce(t, brokers, topic, parts, 0, n/2)

		c := start(t, st, source(brokers, topic, 20), nil)
		ready := func() int {
			w := httptest.NewRecorder()
			c.Handler(nil).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			return w.Code
		}
		eventually(t, "the first half stored", func() bool { return stored(t, st, ids(0, n/2)) == n/2 })
		if code := ready(); code != http.StatusOK {
			t.Fatalf("/readyz %d while the broker is up", code)
		}

		kf.Close()
		eventually(t, "the consumer to notice the broker is gone", func() bool {
			return c.BrokerError() != nil && ready() == http.StatusServiceUnavailable &&
				testutil.ToFloat64(c.metrics.brokerUp) == 0
		})
		select {
		case <-c.stopped:
			t.Fatalf("the consumer stopped while the broker was down: %v", c.err)
		default:
		}

		cluster(t, opts...)
		produce(t, brokers, topic, parts, n/2, n)
		eventually(t, "every record stored", func() bool { return stored(t, st, ids(0, n)) == n })
		eventually(t, "the consumer ready again", func() bool { return ready() == http.StatusOK })
		eventually(t, "every record counted", func() bool { return c.count("accepted") >= n })
		if a, d := c.count("accepted"), c.count("duplicate"); a != n || d != 0 {
			t.Fatalf("accepted %d with %d duplicates, want %d and none", a, d, n)
		}
		if f := testutil.ToFloat64(c.metrics.connectErrors); f == 0 {
			t.Fatal("no failed connection counted while the broker was down")
		}
	})
}

// refusingStore refuses every commit while down, as a store that is
// unreachable does.
type refusingStore struct {
	store.StreamStore
	down atomic.Bool
}

func (s *refusingStore) Commit(ctx context.Context, b store.Batch) (store.CommitResult, error) {
	if s.down.Load() {
		return store.CommitResult{}, errors.New("connection refused")
	}
	return s.StreamStore.Commit(ctx, b)
}

// While the store refuses commits the lag still tells how far behind the
// consumer is; once it is back, everything is stored and the lag is zero.
func TestLagWhileTheStoreRefusesCommits(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		const topic, n = "plays", 40
		kf := cluster(t, kfake.SeedTopics(1, topic))
		brokers := kf.ListenAddrs()
		st := &refusingStore{StreamStore: openStore(t, dsn)}
		st.down.Store(true)
		produce(t, brokers, topic, 1, 0, n)
		c := start(t, st, source(brokers, topic, 10), nil)
		lag := func() float64 { return testutil.ToFloat64(c.metrics.lag.WithLabelValues(topic, "0")) }
		eventually(t, "the lag of all records while the store is down", func() bool {
			return testutil.ToFloat64(c.metrics.commitFailures.WithLabelValues(reasonStore)) > 0 && lag() == n
		})
		st.down.Store(false)
		eventually(t, "every record stored and no lag", func() bool { return stored(t, st, ids(0, n)) == n && lag() == 0 })
	})
}
