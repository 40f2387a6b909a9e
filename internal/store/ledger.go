package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EntryKind says what a ledger entry records. Each entry covers exactly
// what its own transaction committed, so that sums over entries equal what
// the store holds.
type EntryKind string

const (
	// EntryLegacy entries were written before entries covered data: they
	// carry a run's or a batch's counts, no digest, and verify by their
	// chain alone.
	EntryLegacy EntryKind = ""
	// EntryBatch is one committed batch of an ingest run or a webhook
	// delivery: its events and quarantined records, counted as inserted.
	EntryBatch EntryKind = "batch"
	// EntryRun closes a run: its outcome and configuration, and the
	// records it read that no batch committed (a run rejected whole).
	EntryRun EntryKind = "run"
	// EntryReview is a QuarantineReview's decision: the events a release
	// loaded and the records whose status it changed.
	EntryReview EntryKind = "review"
	// EntryAdopt takes a source's rows written before the ledger covered
	// data (an upgraded store, or a source just made financial) into the
	// ledger, once, before the source's first covering entry.
	EntryAdopt EntryKind = "adopt"
	// EntryRetire records events retired by a retention policy: who and
	// why, how many of each source, and, for the events an entry covered,
	// the hashes that entry's digest was computed from (kept in
	// retired_rows, which this entry's digest covers), so that the entry
	// still verifies once the rows are gone.
	EntryRetire EntryKind = "retire"
)

// LedgerEntry is one link of the tamper-evident audit ledger, one chain for
// the whole store. The store assigns Seq, PrevHash, Digest and Hash on
// commit, and what it counted of the rows the transaction inserted
// (Accepted, Quarantined, Duplicates and their amounts), and writes them
// back to the Batch's entry when the commit succeeds.
//
// Source "" takes the batch's, RunID "" the batch's run's, a zero At the
// commit's time; At is kept (and hashed) to the microsecond. Amounts are
// exact decimal strings, hashed as written.
type LedgerEntry struct {
	Seq        int64
	Kind       EntryKind
	Source     string
	RunID      string
	At         time.Time
	ConfigHash string
	// Actor is who the entry records as acting: a review's reviewer.
	Actor string
	// Read and Rejected are the caller's: records read, and dropped by
	// Reject checks. Accepted and Quarantined are what the transaction
	// inserted; Duplicates the rest of what was read, so that
	// Read = Accepted + Duplicates + Quarantined + Rejected.
	Read, Accepted, Duplicates, Quarantined, Rejected int64
	// AmountRead and AmountRejected are the caller's; the others are
	// counted as the records are: in amounts too, read = loaded +
	// duplicates + quarantined + rejected.
	AmountRead, AmountLoaded, AmountDuplicates, AmountQuarantined, AmountRejected string
	Cursor                                                                        string
	// Digest covers the rows the entry's transaction committed (see
	// digest.go); "" for legacy entries.
	Digest string
	// Detail is a JSON document of what else the entry records (a run's
	// outcome and editors, a review's decision and reason), hashed as
	// written.
	Detail   string
	PrevHash string
	Hash     string
}

// covers reports whether the entry vouches for rows (has a digest).
func (e *LedgerEntry) covers() bool { return e.Kind != EntryLegacy }

// LedgerHash is the hash of an entry: SHA-256 over the previous entry's hash
// and the entry's fields, in a fixed order. Legacy entries keep the hash
// they were written with.
func LedgerHash(e LedgerEntry) string {
	fields := []string{
		e.PrevHash, strconv.FormatInt(e.Seq, 10), e.Source, e.RunID, e.At.UTC().Format(time.RFC3339Nano), e.ConfigHash,
		strconv.FormatInt(e.Read, 10), strconv.FormatInt(e.Accepted, 10), strconv.FormatInt(e.Duplicates, 10),
		strconv.FormatInt(e.Quarantined, 10), strconv.FormatInt(e.Rejected, 10), e.AmountRead, e.AmountLoaded, e.Cursor,
	}
	if e.covers() {
		fields = append([]string{"v2"}, fields...)
		fields = append(fields, string(e.Kind), e.Actor, e.AmountDuplicates, e.AmountQuarantined, e.AmountRejected, e.Digest, e.Detail)
	}
	sum := sha256.Sum256([]byte(strings.Join(fields, "\x1f")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// BrokenLinkError names the first ledger entry that does not verify: its
// chain, or the rows it covers. Seq is 0 for rows that no entry covers.
type BrokenLinkError struct {
	Seq    int64
	Reason string
}

func (e *BrokenLinkError) Error() string {
	if e.Seq == 0 {
		return "audit ledger broken: " + e.Reason
	}
	return fmt.Sprintf("audit ledger broken at entry %d: %s", e.Seq, e.Reason)
}

// chainWalker checks ledger entries one by one, in seq order.
type chainWalker struct {
	n    int64
	prev string
	// firstCovering is the seq of the first entry with a digest: a legacy
	// entry after it is a forgery.
	firstCovering int64
}

func (v *chainWalker) next(e LedgerEntry) error {
	want := v.n + 1
	switch {
	case e.Seq != want:
		return &BrokenLinkError{Seq: want, Reason: fmt.Sprintf("entry is missing (the next one stored is %d)", e.Seq)}
	case e.PrevHash != v.prev:
		return &BrokenLinkError{Seq: e.Seq, Reason: fmt.Sprintf("previous hash %q does not match entry %d's hash %q", e.PrevHash, v.n, v.prev)}
	case !e.covers() && v.firstCovering > 0:
		return &BrokenLinkError{Seq: e.Seq, Reason: fmt.Sprintf("entry is in the format from before entries covered data, yet entry %d before it covers data", v.firstCovering)}
	}
	if got := LedgerHash(e); got != e.Hash {
		return &BrokenLinkError{Seq: e.Seq, Reason: fmt.Sprintf("stored hash %s does not match its content, which hashes to %s: the entry was changed after it was written", e.Hash, got)}
	}
	if e.covers() && v.firstCovering == 0 {
		v.firstCovering = e.Seq
	}
	v.n, v.prev = e.Seq, e.Hash
	return nil
}

// end checks the walk reached the head the store recorded, so that
// dropping the newest entries is noticed too.
func (v *chainWalker) end(headSeq int64, headHash string) error {
	switch {
	case v.n < headSeq:
		return &BrokenLinkError{Seq: v.n + 1, Reason: fmt.Sprintf("entry is missing (the head records %d entries)", headSeq)}
	case v.prev != headHash:
		return &BrokenLinkError{Seq: v.n, Reason: fmt.Sprintf("hash %s is not the head's recorded hash %s", v.prev, headHash)}
	}
	return nil
}
