package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Partition is one partition of a stream's topic.
type Partition struct {
	Topic     string
	Partition int32
}

// PartitionOffset is where the store says a partition stands for a source
// and consumer group: Next is the next offset to read (-1: nothing
// committed yet, start where the source says), Epoch the claim it is under.
type PartitionOffset struct {
	Partition
	Next  int64
	Epoch int64
}

// PartitionAdvance moves a partition from From, where the consumer found it
// (its claim, or its own last commit), to Next, one past the last record of
// the batch, under the claim Epoch.
type PartitionAdvance struct {
	Partition
	Epoch, From, Next int64
}

// StreamCommit advances a consumer group's partitions with a batch: the
// events and the offsets they were read up to commit together, or neither.
type StreamCommit struct {
	Group      string
	Partitions []PartitionAdvance
}

// StreamStore is what a stream consumer needs of the store beyond Store:
// both stores implement it.
type StreamStore interface {
	Store
	// ClaimPartitions makes the caller the owner of parts for the source
	// and group, each under a new epoch, and returns where each stands. A
	// commit under an older epoch of a partition then fails with
	// ErrStaleOffsets: the previous owner, however late, writes nothing.
	ClaimPartitions(ctx context.Context, source, group string, parts []Partition) ([]PartitionOffset, error)
	// StreamOffsets returns every partition the source and group have
	// claimed, ordered by topic and partition.
	StreamOffsets(ctx context.Context, source, group string) ([]PartitionOffset, error)
}

// ErrStaleOffsets is what a commit whose partition claim is no longer the
// store's fails with (see StaleOffsetsError).
var ErrStaleOffsets = errors.New("stale stream offsets")

// StaleOffsetsError says which partition moved on under a commit.
type StaleOffsetsError struct {
	Group string
	Partition
	// Epoch and From are what the commit claimed; StoredEpoch and
	// StoredNext what the store holds (0 and -1 when it holds nothing).
	Epoch, From, StoredEpoch, StoredNext int64
}

func (e *StaleOffsetsError) Error() string {
	if e.StoredEpoch != e.Epoch {
		return fmt.Sprintf("partition %s/%d of consumer group %s was claimed by another consumer after a rebalance (epoch %d, this consumer's is %d): nothing of this batch was written; its new owner reads on from offset %d",
			e.Topic, e.Partition.Partition, e.Group, e.StoredEpoch, e.Epoch, e.StoredNext)
	}
	return fmt.Sprintf("partition %s/%d of consumer group %s stands at offset %d, not %d where this batch starts: nothing of it was written",
		e.Topic, e.Partition.Partition, e.Group, e.StoredNext, e.From)
}

func (e *StaleOffsetsError) Is(target error) bool { return target == ErrStaleOffsets }

// prepareOffsets checks a StreamCommit and orders its partitions, so that
// concurrent commits lock their rows in one order.
func prepareOffsets(source string, c *StreamCommit) (*StreamCommit, error) {
	if c == nil {
		return nil, nil
	}
	switch {
	case source == "":
		return nil, errors.New("the batch advances stream offsets but names no source")
	case c.Group == "":
		return nil, errors.New("the batch advances stream offsets of no consumer group")
	}
	out := &StreamCommit{Group: c.Group, Partitions: append([]PartitionAdvance(nil), c.Partitions...)}
	sort.Slice(out.Partitions, func(i, j int) bool {
		a, b := out.Partitions[i], out.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition.Partition < b.Partition.Partition
	})
	for i, p := range out.Partitions {
		if p.Topic == "" || p.Partition.Partition < 0 {
			return nil, fmt.Errorf("stream offsets: partition %q/%d is not a partition", p.Topic, p.Partition.Partition)
		}
		if i > 0 && out.Partitions[i-1].Partition == p.Partition {
			return nil, fmt.Errorf("stream offsets: partition %s/%d advances twice", p.Topic, p.Partition.Partition)
		}
		if p.Next <= p.From || p.Next < 0 {
			return nil, fmt.Errorf("stream offsets: partition %s/%d moves from %d to %d, not forward", p.Topic, p.Partition.Partition, p.From, p.Next)
		}
	}
	return out, nil
}

// offsetsTx is the statements advancing offsets need, in either dialect.
type offsetsTx interface {
	// advance sets the row's next offset when its epoch and next offset
	// are the expected ones, and says whether it did.
	advance(ctx context.Context, source, group string, p PartitionAdvance, now time.Time) (bool, error)
	// stored reads the row (ok false: there is none).
	stored(ctx context.Context, source, group string, p Partition) (next, epoch int64, ok bool, err error)
}

// advanceOffsets moves every partition of c or fails with a
// *StaleOffsetsError for the first one that moved on.
func advanceOffsets(ctx context.Context, tx offsetsTx, source string, c *StreamCommit, now time.Time) error {
	if c == nil {
		return nil
	}
	for _, p := range c.Partitions {
		ok, err := tx.advance(ctx, source, c.Group, p, now)
		if err != nil {
			return fmt.Errorf("advance offset of %s/%d: %w", p.Topic, p.Partition.Partition, err)
		}
		if ok {
			continue
		}
		next, epoch, found, err := tx.stored(ctx, source, c.Group, p.Partition)
		if err != nil {
			return fmt.Errorf("read offset of %s/%d: %w", p.Topic, p.Partition.Partition, err)
		}
		if !found {
			next = -1
		}
		return &StaleOffsetsError{Group: c.Group, Partition: p.Partition, Epoch: p.Epoch, From: p.From, StoredEpoch: epoch, StoredNext: next}
	}
	return nil
}
