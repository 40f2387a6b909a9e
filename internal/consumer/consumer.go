// Package consumer is the Kafka consumer of a stream TouchpointSource
// (`journey consume`): it polls records with franz-go, puts them through
// the same pipeline as batch ingest, and commits each poll's events,
// quarantined records and the partitions' next offsets to the store in one
// transaction. The store, not Kafka, says where each partition stands: on
// every assignment the consumer claims its partitions in the store and
// seeks to the store's offsets, and a commit names its claim, so a
// consumer that lost a partition in a rebalance writes nothing. Kafka's
// group commits follow the store's, for lag monitoring only.
//
// A record that is not a JSON object, or that fails its mapping, is
// quarantined with the reason, and its partition moves on past it.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Options are what a consumer runs with.
type Options struct {
	Source   runconfig.Source
	Hash     string // the configuration's hash, recorded in ledger entries
	Pipeline *pipeline.Pipeline
	Store    store.StreamStore
	Secrets  connector.Secrets
	// Registerer takes the metrics (nil: none registered).
	Registerer prometheus.Registerer
	Log        *slog.Logger
	Now        func() time.Time
	// ClientOpts are added to franz-go's (tests: shorter timeouts).
	ClientOpts []kgo.Opt
	// BeforeCommit, when set, runs after a poll is processed and before it
	// commits; an error stops Run with nothing of the poll committed, as a
	// consumer killed there would (tests).
	BeforeCommit func(ctx context.Context, b *store.Batch) error
	// RetryBackoff is how long to wait after a commit failed for another
	// reason than a rebalance (the store is down) before reading the
	// partitions again. Zero: 2s.
	RetryBackoff time.Duration
}

// Consumer consumes one stream source.
type Consumer struct {
	cfg      runconfig.Source
	id       string // namespace/name, the store's source
	group    string
	max      int
	start    kgo.Offset
	hash     string
	pipeline *pipeline.Pipeline
	store    store.StreamStore
	client   *kgo.Client
	claims   *claims
	metrics  *Metrics
	hook     *brokerHook
	log      *slog.Logger
	now      func() time.Time
	before   func(context.Context, *store.Batch) error
	backoff  time.Duration
}

// New connects nothing yet: franz-go dials the brokers when Run polls.
func New(o Options) (*Consumer, error) {
	s := o.Source.Spec.Stream
	if s == nil || s.Kafka == nil {
		return nil, fmt.Errorf("source %s/%s has no spec.stream.kafka", o.Source.Namespace, o.Source.Name)
	}
	k := s.Kafka
	m, err := newMetrics(o.Registerer, o.Source.Namespace, o.Source.Name)
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg: o.Source, id: pipeline.SourceID(o.Source.Namespace, o.Source.Name), group: k.ConsumerGroup,
		max: int(k.MaxPollRecords), start: startOffset(k), hash: o.Hash, pipeline: o.Pipeline, store: o.Store,
		claims: newClaims(), metrics: m, hook: &brokerHook{m: m}, log: o.Log, now: o.Now, before: o.BeforeCommit,
		backoff: o.RetryBackoff,
	}
	if c.max <= 0 {
		c.max = 500
	}
	if c.backoff <= 0 {
		c.backoff = 2 * time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	opts, err := clientOpts(k, o.Secrets)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.ConsumerGroup(k.ConsumerGroup),
		kgo.DisableAutoCommit(),
		// Rebalance callbacks wait for the poll being committed: a claim
		// is never taken from under a batch in this process. (A consumer
		// kicked out of the group for being slow is fenced by the store.)
		kgo.BlockRebalanceOnPoll(),
		// Eager: every rebalance revokes and assigns every partition, so
		// each member claims afresh all it is given, kept ones too; a
		// member whose claim went stale is made whole by rejoining
		// (ForceRebalance). Cooperative balancing would keep partitions
		// without assigning them again, and a stale claim would stay so.
		kgo.Balancers(kgo.StickyBalancer()),
		kgo.AdjustFetchOffsetsFn(c.adjust),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.revoked),
		kgo.WithHooks(c.hook),
	)
	opts = append(opts, o.ClientOpts...)
	if c.client, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("spec.stream.kafka: %w", err)
	}
	return c, nil
}

// Close leaves the group, so that its partitions move on at once.
func (c *Consumer) Close() { c.client.Close() }

// Run polls and commits until ctx is done or a BeforeCommit hook fails.
// Brokers that are down and a store that refuses a commit are waited out:
// they show in the metrics, /readyz and the log, not as an error.
func (c *Consumer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		fetches := c.client.PollRecords(ctx, c.max)
		if fetches.IsClientClosed() {
			return nil
		}
		err := c.handle(ctx, fetches)
		c.client.AllowRebalance()
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Consumer) handle(ctx context.Context, fetches kgo.Fetches) error {
	fetches.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.Canceled) {
			c.log.Warn("fetching", "source", c.id, "topic", topic, "partition", p, "err", err)
		}
	})
	pl, err := c.batch(ctx, fetches)
	if err != nil || pl == nil {
		return err
	}
	b, highs, counts := pl.batch, pl.highs, pl.counts
	if c.before != nil {
		if err := c.before(ctx, b); err != nil {
			return fmt.Errorf("before commit: %w", err)
		}
	}
	if _, err := c.store.Commit(ctx, *b); err != nil {
		return c.failed(ctx, pl, err)
	}
	kafka := make(map[string]map[int32]kgo.EpochOffset, len(b.Offsets.Partitions))
	for _, p := range b.Offsets.Partitions {
		c.claims.set(store.PartitionOffset{Partition: p.Partition, Next: p.Next, Epoch: p.Epoch})
		if kafka[p.Topic] == nil {
			kafka[p.Topic] = map[int32]kgo.EpochOffset{}
		}
		kafka[p.Topic][p.Partition.Partition] = kgo.EpochOffset{Epoch: -1, Offset: p.Next}
		c.metrics.lag.WithLabelValues(p.Topic, itoa(p.Partition.Partition)).Set(float64(max(highs[p.Partition]-p.Next, 0)))
	}
	c.metrics.batches.Inc()
	for outcome, n := range counts {
		c.metrics.records.WithLabelValues(outcome).Add(float64(n))
	}
	// Kafka's group offsets follow, for lag monitoring; a failure costs
	// nothing but a stale lag figure in Kafka's own tools.
	c.client.CommitOffsets(ctx, kafka, nil)
	return nil
}

// polled is one poll made into a batch.
type polled struct {
	batch *store.Batch
	// highs are the partitions' high watermarks (for the lag), first the
	// offset of each partition's first record in the batch (where to read
	// again should it not commit).
	highs, first map[store.Partition]int64
	counts       map[string]int64 // records by outcome
}

// batch runs a poll's records through the pipeline and builds the batch
// that commits them with their partitions' offsets; nil when nothing of
// the poll is this consumer's to commit.
func (c *Consumer) batch(ctx context.Context, fetches kgo.Fetches) (*polled, error) {
	var in []pipeline.Input
	advances := map[store.Partition]*store.PartitionAdvance{}
	highs, first := map[store.Partition]int64{}, map[store.Partition]int64{}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		part := store.Partition{Topic: fp.Topic, Partition: fp.Partition}
		highs[part] = fp.HighWatermark
		claim, ok := c.claims.get(part)
		if !ok {
			return // revoked meanwhile: its new owner reads it
		}
		for _, r := range fp.Records {
			if claim.Next >= 0 && r.Offset < claim.Next {
				continue // committed already (a fetch from before a seek)
			}
			a := advances[part]
			if a == nil {
				a = &store.PartitionAdvance{Partition: part, Epoch: claim.Epoch, From: claim.Next}
				advances[part] = a
				first[part] = r.Offset
			}
			a.Next = r.Offset + 1
			in = append(in, input(r))
		}
	})
	if len(advances) == 0 {
		return nil, nil
	}
	now := c.now()
	runID := "stream-" + now.UTC().Format("20060102")
	res, err := c.pipeline.Process(ctx, c.store, runID, now, in)
	if err != nil {
		return nil, c.failed(ctx, &polled{batch: &store.Batch{Offsets: offsets(c.group, advances)}, first: first}, err)
	}
	b := &store.Batch{Source: c.id, Events: res.Events, Quarantine: res.Quarantine, UniqueKeys: res.UniqueKeys,
		Offsets: offsets(c.group, advances)}
	if c.cfg.Spec.Financial {
		// One entry per committed poll, as per webhook delivery; its
		// cursor says up to where each partition was read.
		b.Ledger = &store.LedgerEntry{Kind: store.EntryBatch, Source: c.id, RunID: runID, At: now, ConfigHash: c.hash,
			Read: res.Read, Rejected: res.Rejected, AmountRead: pipeline.Decimal(res.AmountRead),
			AmountRejected: pipeline.Decimal(res.AmountRejected), Cursor: cursorOf(b.Offsets)}
	}
	counts := map[string]int64{"accepted": int64(len(res.Events)), "duplicate": res.Duplicates,
		"quarantined": res.Quarantined, "rejected": res.Rejected}
	return &polled{batch: b, highs: highs, first: first, counts: counts}, nil
}

// input is a Kafka record as the pipeline takes it: its value, a JSON
// object, or the reason it is not one.
func input(r *kgo.Record) pipeline.Input {
	where := fmt.Sprintf("Kafka record %s/%d at offset %d", r.Topic, r.Partition, r.Offset)
	rec, bad := connector.DecodeObject(r.Value, where)
	if bad != nil {
		return pipeline.Input{Undecodable: bad}
	}
	return pipeline.Input{Record: rec, Raw: r.Value}
}

func offsets(group string, advances map[store.Partition]*store.PartitionAdvance) *store.StreamCommit {
	c := &store.StreamCommit{Group: group}
	for _, a := range advances {
		c.Partitions = append(c.Partitions, *a)
	}
	sort.Slice(c.Partitions, func(i, j int) bool {
		a, b := c.Partitions[i].Partition, c.Partitions[j].Partition
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return c
}

// cursorOf is a ledger entry's cursor: topic/partition=next for each.
func cursorOf(c *store.StreamCommit) string {
	parts := make([]string, len(c.Partitions))
	for i, p := range c.Partitions {
		parts[i] = fmt.Sprintf("%s/%d=%d", p.Topic, p.Partition.Partition, p.Next)
	}
	return strings.Join(parts, ",")
}

// failed handles a batch that did not commit: nothing of it was written.
// The partitions it read are read again from where the store stands. A
// stale claim means a rebalance gave the partition to another consumer:
// the claim is dropped and the group is asked to rebalance, which settles
// who owns what and claims again. Any other failure (the store is down) is
// waited out.
func (c *Consumer) failed(ctx context.Context, pl *polled, err error) error {
	var stale *store.StaleOffsetsError
	reason := reasonStore
	if errors.As(err, &stale) {
		reason = reasonStale
	}
	c.metrics.commitFailures.WithLabelValues(reason).Inc()
	c.log.Error("batch not committed; reading its partitions again from the store's offsets", "source", c.id, "reason", reason, "err", err)
	seek := map[string]map[int32]kgo.EpochOffset{}
	for _, p := range pl.batch.Offsets.Partitions {
		if stale != nil && stale.Partition == p.Partition {
			c.claims.drop(map[string][]int32{p.Topic: {p.Partition.Partition}})
			continue
		}
		if seek[p.Topic] == nil {
			seek[p.Topic] = map[int32]kgo.EpochOffset{}
		}
		seek[p.Topic][p.Partition.Partition] = kgo.EpochOffset{Epoch: -1, Offset: pl.first[p.Partition]}
		// The lag still moves while commits fail: what the partition holds
		// past the store's offset, which is where it stands.
		from := p.From
		if from < 0 { // nothing stored yet: the poll's first record
			from = pl.first[p.Partition]
		}
		c.metrics.lag.WithLabelValues(p.Topic, itoa(p.Partition.Partition)).Set(float64(max(pl.highs[p.Partition]-from, 0)))
	}
	c.client.SetOffsets(seek)
	if stale != nil {
		c.client.ForceRebalance()
		return nil
	}
	select {
	case <-ctx.Done():
	case <-time.After(c.backoff):
	}
	return nil
}
