package consumer

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// claims are the partitions this consumer owns in the store: the epoch of
// its claim and the next offset the store holds for it, as of its own
// last commit. Kafka's group decides who owns what; the store's claim,
// taken on every assignment, is what makes a stale owner's commit fail.
type claims struct {
	mu sync.Mutex
	by map[store.Partition]store.PartitionOffset
}

func newClaims() *claims { return &claims{by: map[store.Partition]store.PartitionOffset{}} }

func (c *claims) get(p store.Partition) (store.PartitionOffset, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.by[p]
	return o, ok
}

func (c *claims) set(o store.PartitionOffset) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.by[o.Partition] = o
}

func (c *claims) drop(topics map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range topics {
		for _, p := range ps {
			delete(c.by, store.Partition{Topic: t, Partition: p})
		}
	}
}

func (c *claims) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.by)
}

// adjust is franz-go's AdjustFetchOffsetsFn: called on every assignment,
// once Kafka's committed offsets are fetched and before fetching starts.
// It claims the assigned partitions in the store and starts each where the
// store stands, whatever Kafka's group committed (those commits only feed
// lag monitoring); a partition the store has nothing for starts at start.
func (c *Consumer) adjust(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	var parts []store.Partition
	for t, ps := range assigned {
		for p := range ps {
			parts = append(parts, store.Partition{Topic: t, Partition: p})
		}
	}
	got, err := c.store.ClaimPartitions(ctx, c.id, c.group, parts)
	if err != nil {
		// The group session ends and franz-go joins again: nothing is
		// read from a partition that is not claimed.
		c.log.Error("claiming assigned partitions in the store", "source", c.id, "err", err)
		c.metrics.commitFailures.WithLabelValues(reasonStore).Inc()
		return nil, err
	}
	out := make(map[string]map[int32]kgo.Offset, len(assigned))
	for _, o := range got {
		c.claims.set(o)
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]kgo.Offset{}
		}
		at := c.start
		if o.Next >= 0 {
			// No leader epoch: the store's offset is the truth, not a
			// position Kafka's truncation detection should second-guess.
			at = kgo.NewOffset().At(o.Next).WithEpoch(-1)
		}
		out[o.Topic][o.Partition.Partition] = at
	}
	c.log.Info("partitions assigned", "source", c.id, "group", c.group, "partitions", len(got))
	c.metrics.assigned.Set(float64(c.claims.count()))
	return out, nil
}

// revoked forgets the claims of partitions the group took away (or that
// were lost with the group session).
func (c *Consumer) revoked(_ context.Context, _ *kgo.Client, topics map[string][]int32) {
	c.claims.drop(topics)
	for t, ps := range topics {
		for _, p := range ps {
			c.metrics.lag.DeleteLabelValues(t, itoa(p))
		}
	}
	c.metrics.assigned.Set(float64(c.claims.count()))
}
