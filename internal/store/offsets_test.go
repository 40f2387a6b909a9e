package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestStreamOffsets(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { testStreamOffsets(t, b) })
	}
}

// A stream's events and offsets commit together, under a claim that a
// later claim of the partition makes stale: a consumer that lost the
// partition in a rebalance writes nothing, neither events nor offsets.
func testStreamOffsets(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.new(t).(StreamStore)
	const src, group = "media/plays", "journey"
	p0, p1 := Partition{Topic: "plays", Partition: 0}, Partition{Topic: "plays", Partition: 1}

	first, err := s.ClaimPartitions(ctx, src, group, []Partition{p1, p0})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range first {
		if o.Next != -1 || o.Epoch != 1 {
			t.Fatalf("a first claim of %v stands at %d under epoch %d, want -1 and 1", o.Partition, o.Next, o.Epoch)
		}
	}
	adv := func(p Partition, epoch, from, next int64) PartitionAdvance {
		return PartitionAdvance{Partition: p, Epoch: epoch, From: from, Next: next}
	}
	commit(t, s, Batch{Source: src, Events: []Event{ev("e1", "u1"), ev("e2", "u1")},
		Offsets: &StreamCommit{Group: group, Partitions: []PartitionAdvance{adv(p0, 1, -1, 5), adv(p1, 1, -1, 2)}}})

	// Another consumer takes p0 over.
	again, err := s.ClaimPartitions(ctx, src, group, []Partition{p0})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Next != 5 || again[0].Epoch != 2 {
		t.Fatalf("p0 claimed again stands at %d under epoch %d, want 5 and 2", again[0].Next, again[0].Epoch)
	}

	// The old owner's next batch (p0 stale, p1 still its own) writes
	// nothing at all.
	_, err = s.Commit(ctx, Batch{Source: src, Events: []Event{ev("e3", "u2")},
		Quarantine: []QuarantineRecord{{Check: "decode", Reason: "not JSON", Raw: []byte("{oops")}},
		Offsets:    &StreamCommit{Group: group, Partitions: []PartitionAdvance{adv(p1, 1, 2, 3), adv(p0, 1, 5, 9)}}})
	var stale *StaleOffsetsError
	if !errors.Is(err, ErrStaleOffsets) || !errors.As(err, &stale) {
		t.Fatalf("a commit under a stale claim: %v, want a StaleOffsetsError", err)
	}
	if stale.StoredEpoch != 2 || stale.Epoch != 1 || !strings.Contains(err.Error(), "claimed by another consumer after a rebalance") {
		t.Fatalf("the error does not say what happened: %v", err)
	}
	if got, _ := s.ExistingEvents(ctx, src, []string{"e3"}); got["e3"] {
		t.Fatal("the stale batch's event was stored")
	}
	if held, _ := s.HeldInQuarantine(ctx, src, []string{RecordHash([]byte("{oops"))}); len(held) != 0 {
		t.Fatal("the stale batch's quarantined record was stored")
	}
	offsets, err := s.StreamOffsets(ctx, src, group)
	if err != nil {
		t.Fatal(err)
	}
	if len(offsets) != 2 || offsets[0].Next != 5 || offsets[1].Next != 2 {
		t.Fatalf("offsets after the stale batch: %+v, want p0 at 5 and p1 at 2, unchanged", offsets)
	}

	// The new owner starting from anywhere but where the store stands is
	// refused too: a batch never skips or repeats records.
	_, err = s.Commit(ctx, Batch{Source: src, Events: []Event{ev("e4", "u2")},
		Offsets: &StreamCommit{Group: group, Partitions: []PartitionAdvance{adv(p0, 2, 4, 9)}}})
	if !errors.Is(err, ErrStaleOffsets) || !strings.Contains(err.Error(), "stands at offset 5, not 4") {
		t.Fatalf("a batch from the wrong offset: %v", err)
	}
	commit(t, s, Batch{Source: src, Events: []Event{ev("e4", "u2")},
		Offsets: &StreamCommit{Group: group, Partitions: []PartitionAdvance{adv(p0, 2, 5, 9)}}})
	offsets, _ = s.StreamOffsets(ctx, src, group)
	if offsets[0].Next != 9 || offsets[0].Epoch != 2 {
		t.Fatalf("p0 after its new owner's batch: %+v, want 9 under epoch 2", offsets[0])
	}
	if got, _ := s.ExistingEvents(ctx, src, []string{"e4"}); !got["e4"] {
		t.Fatal("the new owner's event was not stored")
	}

	// Another group of the same source has offsets of its own.
	if o, _ := s.StreamOffsets(ctx, src, "other"); len(o) != 0 {
		t.Fatalf("group other has offsets %+v", o)
	}

	for name, c := range map[string]*StreamCommit{
		"backwards":  {Group: group, Partitions: []PartitionAdvance{adv(p0, 2, 9, 9)}},
		"no group":   {Partitions: []PartitionAdvance{adv(p0, 2, 9, 10)}},
		"twice":      {Group: group, Partitions: []PartitionAdvance{adv(p0, 2, 9, 10), adv(p0, 2, 10, 11)}},
		"no topic":   {Group: group, Partitions: []PartitionAdvance{adv(Partition{Partition: 0}, 2, 9, 10)}},
		"no partion": {Group: group, Partitions: []PartitionAdvance{adv(Partition{Topic: "plays", Partition: -1}, 2, 9, 10)}},
	} {
		if _, err := s.Commit(ctx, Batch{Source: src, Offsets: c}); err == nil || errors.Is(err, ErrStaleOffsets) {
			t.Errorf("%s: %v, want a refusal before the transaction", name, err)
		}
	}
}
