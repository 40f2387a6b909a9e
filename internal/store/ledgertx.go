package store

import (
	"context"
	"fmt"
	"time"
)

// ledgerTx is what appending to the ledger needs of a store's open
// transaction; both stores implement it over their SQL.
type ledgerTx interface {
	// lockHead returns the chain's head, locked until the transaction ends:
	// appenders queue on it, across pods too.
	lockHead(ctx context.Context) (seq int64, hash string, err error)
	// covered reports whether the source has an entry that covers data.
	covered(ctx context.Context, source string) (bool, error)
	// adopt marks the source's rows that no entry covers as entry seq's,
	// and returns how many there were.
	adopt(ctx context.Context, source string, seq int64) (int64, error)
	// readEntry adds to a the rows entry seq covers, as stored.
	readEntry(ctx context.Context, seq int64, a *entryAccount) error
	// appendEntry writes e and makes it the head.
	appendEntry(ctx context.Context, e *LedgerEntry) error
}

// openEntry numbers e after the chain's head. The rows the transaction
// then writes carry e's seq, and sealEntry completes e from them.
func openEntry(ctx context.Context, tx ledgerTx, e *LedgerEntry, now time.Time) error {
	seq, hash, err := tx.lockHead(ctx)
	if err != nil {
		return fmt.Errorf("lock ledger head: %w", err)
	}
	return numberEntry(ctx, tx, e, seq, hash, now)
}

// numberEntry numbers e after the head (seq, hash), which the transaction
// holds locked. A source no entry covers yet first has its rows adopted by
// an entry of their own: from then on every row of the source is covered,
// and one written behind the store's back stands out.
func numberEntry(ctx context.Context, tx ledgerTx, e *LedgerEntry, seq int64, hash string, now time.Time) error {
	covered, err := tx.covered(ctx, e.Source)
	if err != nil {
		return fmt.Errorf("read ledger coverage of %s: %w", e.Source, err)
	}
	if !covered {
		a := &LedgerEntry{Seq: seq + 1, Kind: EntryAdopt, Source: e.Source, At: normTime(now), PrevHash: hash}
		n, err := tx.adopt(ctx, e.Source, a.Seq)
		if err != nil {
			return fmt.Errorf("adopt the rows of %s into the ledger: %w", e.Source, err)
		}
		if n > 0 {
			if err := sealEntry(ctx, tx, a); err != nil {
				return err
			}
			seq, hash = a.Seq, a.Hash
		}
	}
	e.Seq, e.PrevHash = seq+1, hash
	return nil
}

// sealEntry completes e from the rows it covers and appends it.
func sealEntry(ctx context.Context, tx ledgerTx, e *LedgerEntry) error {
	var a entryAccount
	if err := tx.readEntry(ctx, e.Seq, &a); err != nil {
		return fmt.Errorf("read back the rows of ledger entry %d: %w", e.Seq, err)
	}
	if err := a.fill(e); err != nil {
		return err
	}
	e.Hash = LedgerHash(*e)
	if err := tx.appendEntry(ctx, e); err != nil {
		return fmt.Errorf("append ledger entry %d: %w", e.Seq, err)
	}
	return nil
}
