package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// RetireRequest retires, by policy, every event that occurred before a
// month: whole months go, as PostgreSQL keeps one partition per month.
type RetireRequest struct {
	// Before is rounded down to its month (UTC): events that occurred
	// before that instant are retired, and commits refuse them from then on.
	Before time.Time
	// Actor is who retires (a person, or the service account of the
	// retention job); Reason why (the policy). Both go in the ledger entry,
	// and both are required.
	Actor, Reason string
}

// RetireResult is what a retirement did.
type RetireResult struct {
	// Horizon is the store's retention horizon after it.
	Horizon time.Time
	// Events retired, per source; Covered of them were rows a ledger entry
	// covered, whose hashes the ledger keeps.
	Events  map[string]int64
	Covered int64
	// Partitions dropped (PostgreSQL).
	Partitions []string
	// Entry is the ledger entry that records it; nil when the horizon was
	// there already and nothing was done.
	Entry *LedgerEntry
}

// RetireDetail is a retire entry's detail, as hashed into the chain.
type RetireDetail struct {
	Horizon    time.Time        `json:"horizon"`
	Reason     string           `json:"reason"`
	Events     map[string]int64 `json:"events"`
	Covered    int64            `json:"covered"`
	Partitions []string         `json:"partitions,omitempty"`
}

// DecodeRetireDetail reads a retire entry's detail.
func DecodeRetireDetail(detail string) (RetireDetail, error) {
	var d RetireDetail
	err := json.Unmarshal([]byte(detail), &d)
	return d, err
}

// retiredRow is one row the ledger keeps of a retired event: the entry that
// covered it, the hash that entry's digest took of it, and its amount.
type retiredRow struct {
	RetireEntry, Entry int64
	Hash               [32]byte
	Amount             *string
}

// hash is the row's own hash, which a retire entry's digest sorts and
// hashes.
func (r *retiredRow) hash() [32]byte {
	var h rowHasher
	h.reset('t')
	h.int(r.Entry)
	h.str(hex.EncodeToString(r.Hash[:]))
	h.opt(r.Amount)
	return h.sum()
}

// retireDigest is a retire entry's digest: over the rows it keeps.
func retireDigest(rows []retiredRow) string {
	hashes := make([][32]byte, len(rows))
	for i := range rows {
		hashes[i] = rows[i].hash()
	}
	slices.SortFunc(hashes, func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) })
	d := sha256.New()
	fmt.Fprintf(d, "%s retired %d\n", digestVersion, len(hashes))
	for _, h := range hashes {
		d.Write(h[:])
	}
	return "sha256:" + hex.EncodeToString(d.Sum(nil))
}

// retireTx is what a retirement needs of a store's open transaction, which
// holds the events lock (no commit writes events meanwhile).
type retireTx interface {
	horizon(ctx context.Context) (time.Time, error)
	lockHead(ctx context.Context) (seq int64, hash string, err error)
	// countBefore counts the events before t, per source.
	countBefore(ctx context.Context, t time.Time) (map[string]int64, error)
	// coveredBefore streams the events before t that an entry covers, as
	// digests read them.
	coveredBefore(ctx context.Context, t time.Time, fn func(entry int64, r *digestEvent) error) error
	keepRetired(ctx context.Context, rows []retiredRow) error
	// drop removes the events before t (and their keys), and returns the
	// partitions it dropped.
	drop(ctx context.Context, t time.Time) ([]string, error)
	setHorizon(ctx context.Context, t time.Time) error
	appendEntry(ctx context.Context, e *LedgerEntry) error
}

// retire retires the events before r.Before's month in tx, and records it
// in the ledger: the hashes of covered rows first, then the rows go.
func retire(ctx context.Context, tx retireTx, r RetireRequest, now time.Time) (RetireResult, error) {
	if r.Actor == "" || r.Reason == "" {
		return RetireResult{}, fmt.Errorf("retire events: who retires them (actor) and why (reason) are required: the ledger records both")
	}
	before := month(r.Before)
	if !before.Before(now) {
		return RetireResult{}, fmt.Errorf("retire events before %s: that is not in the past", before.Format(time.RFC3339))
	}
	cur, err := tx.horizon(ctx)
	if err != nil {
		return RetireResult{}, err
	}
	if !before.After(cur) {
		return RetireResult{Horizon: cur}, nil // retired already
	}
	events, err := tx.countBefore(ctx, before)
	if err != nil {
		return RetireResult{}, fmt.Errorf("count the events to retire: %w", err)
	}
	seq, prev, err := tx.lockHead(ctx)
	if err != nil {
		return RetireResult{}, fmt.Errorf("lock ledger head: %w", err)
	}
	e := &LedgerEntry{Seq: seq + 1, Kind: EntryRetire, RunID: "retire-" + before.Format("2006-01"), At: normTime(now),
		Actor: r.Actor, PrevHash: prev}
	var kept []retiredRow
	var a entryAccount
	err = tx.coveredBefore(ctx, before, func(entry int64, row *digestEvent) error {
		a.events = a.events[:0]
		if err := a.addEvent(row); err != nil {
			return err
		}
		var amount *string
		if row.Amount != nil {
			v := *row.Amount
			amount = &v
		}
		kept = append(kept, retiredRow{RetireEntry: e.Seq, Entry: entry, Hash: a.events[0], Amount: amount})
		return nil
	})
	if err != nil {
		return RetireResult{}, fmt.Errorf("hash the covered events to retire: %w", err)
	}
	if err := tx.keepRetired(ctx, kept); err != nil {
		return RetireResult{}, fmt.Errorf("keep the retired rows' hashes: %w", err)
	}
	parts, err := tx.drop(ctx, before)
	if err != nil {
		return RetireResult{}, err
	}
	if err := tx.setHorizon(ctx, before); err != nil {
		return RetireResult{}, fmt.Errorf("record the retention horizon: %w", err)
	}
	var total int64
	for _, n := range events {
		total += n
	}
	detail, err := json.Marshal(RetireDetail{Horizon: before, Reason: r.Reason, Events: events, Covered: int64(len(kept)), Partitions: parts})
	if err != nil {
		return RetireResult{}, err
	}
	e.Read, e.Detail, e.Digest = total, string(detail), retireDigest(kept)
	e.Hash = LedgerHash(*e)
	if err := tx.appendEntry(ctx, e); err != nil {
		return RetireResult{}, fmt.Errorf("append ledger entry %d: %w", e.Seq, err)
	}
	return RetireResult{Horizon: before, Events: events, Covered: int64(len(kept)), Partitions: parts, Entry: e}, nil
}

// scanRetiredRow reads a retired_rows row.
func scanRetiredRow(scan func(dest ...any) error, r *retiredRow) error {
	var hash string
	r.Amount = nil
	if err := scan(&r.RetireEntry, &r.Entry, &hash, &r.Amount); err != nil {
		return err
	}
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) != len(r.Hash) {
		// Kept as read: the entry's digest will not match.
		b = make([]byte, len(r.Hash))
	}
	copy(r.Hash[:], b)
	return nil
}

const retiredRowsQuery = `SELECT retire_entry, entry, row_hash, amount FROM retired_rows ORDER BY entry, retire_entry`
