package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"
)

// Review decisions.
const (
	DecisionRelease = "Release"
	DecisionDiscard = "Discard"
)

// ReviewSelection picks pending records of a source; every criterion given
// must hold, and at least one must be given.
type ReviewSelection struct {
	RunIDs   []string `json:"runIDs,omitempty"`
	Checks   []string `json:"checks,omitempty"`
	EventIDs []string `json:"eventIDs,omitempty"`
	// From and To select records held at or after From and before To.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
}

func (s ReviewSelection) empty() bool {
	return len(s.RunIDs) == 0 && len(s.Checks) == 0 && len(s.EventIDs) == 0 && s.From.IsZero() && s.To.IsZero()
}

// matches reports whether a pending record is selected.
func (s ReviewSelection) matches(q *QuarantineRecord) bool {
	switch {
	case len(s.RunIDs) > 0 && !slices.Contains(s.RunIDs, q.RunID),
		len(s.EventIDs) > 0 && !slices.Contains(s.EventIDs, q.EventID),
		!s.From.IsZero() && q.At.Before(normTime(s.From)),
		!s.To.IsZero() && !q.At.Before(normTime(s.To)):
		return false
	case len(s.Checks) > 0:
		for _, c := range q.checks() {
			if slices.Contains(s.Checks, c) {
				return true
			}
		}
		return false
	}
	return true
}

// ReviewRequest is a decision on a source's pending records.
type ReviewRequest struct {
	// ID identifies the review: a review is applied once, and asked again
	// it returns what it did the first time.
	ID        string
	Source    string
	Selection ReviewSelection
	Decision  string
	// Reviewer is who decided, Reason why (recorded in the ledger).
	Reviewer string
	Reason   string
	// Identified says how the reviewer was identified: "admission" (the
	// API server, from the request that created the QuarantineReview) or
	// "self-declared" (`journey review --as`).
	Identified string
	// Object names the QuarantineReview ("namespace/name"), if any.
	Object string
	// At is the decision's time; zero: the commit's.
	At time.Time
}

// ReviewResult is what a review did.
type ReviewResult struct {
	// Matched pending records; of them Released were loaded as events,
	// Duplicates released though their event was stored already, Discarded
	// marked discarded, and Unreleasable left pending because they never
	// became events.
	Matched      int64 `json:"matched"`
	Released     int64 `json:"released"`
	Duplicates   int64 `json:"duplicates"`
	Discarded    int64 `json:"discarded"`
	Unreleasable int64 `json:"unreleasable"`
	// Amounts of the released and discarded records, exact; Currency when
	// they share one.
	AmountReleased  string `json:"amountReleased,omitempty"`
	AmountDiscarded string `json:"amountDiscarded,omitempty"`
	Currency        string `json:"currency,omitempty"`
	// OldestHeld is when the oldest record the review decided on was held.
	OldestHeld time.Time `json:"oldestHeld,omitzero"`
	// The review's ledger entry.
	Seq        int64     `json:"-"`
	LedgerHash string    `json:"-"`
	At         time.Time `json:"-"`
	// Repeated says the review had been applied before: nothing changed.
	Repeated bool `json:"-"`
}

// reviewDetail is the review's ledger entry's Detail document.
type reviewDetail struct {
	Decision   string          `json:"decision"`
	Reason     string          `json:"reason"`
	Identified string          `json:"identified,omitempty"`
	Object     string          `json:"object,omitempty"`
	Selection  ReviewSelection `json:"selection"`
	ReviewResult
}

// ErrReviewRefused is wrapped by errors for a review the store will not
// apply as asked.
var ErrReviewRefused = errors.New("review refused")

func (r *ReviewRequest) check() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("%w: the review has no ID", ErrReviewRefused)
	case r.Source == "":
		return fmt.Errorf("%w: the review names no source", ErrReviewRefused)
	case r.Decision != DecisionRelease && r.Decision != DecisionDiscard:
		return fmt.Errorf("%w: decision %q: want %s or %s", ErrReviewRefused, r.Decision, DecisionRelease, DecisionDiscard)
	case r.Reviewer == "":
		return fmt.Errorf("%w: the review names no reviewer", ErrReviewRefused)
	case len(r.Reason) < 10:
		return fmt.Errorf("%w: the reason %q is shorter than 10 characters: say what was checked", ErrReviewRefused, r.Reason)
	case r.Selection.empty():
		return fmt.Errorf("%w: the selection is empty: name runs, checks, event IDs or a time range", ErrReviewRefused)
	}
	return nil
}

// reviewTx is what a review needs of a store's open transaction.
type reviewTx interface {
	ledgerTx
	// lockEvents orders the transaction's event writes with other commits'.
	lockEvents(ctx context.Context) error
	// findReview returns the review entry of the source with that ID, or nil.
	findReview(ctx context.Context, source, id string) (*LedgerEntry, error)
	// pending returns the source's pending records, with their events.
	pending(ctx context.Context, source string) ([]QuarantineRecord, error)
	// insertEvents inserts events under ledger entry seq, skipping those
	// stored already, and advances their sources' newest sequence.
	insertEvents(ctx context.Context, events []eventRow, seq int64, now time.Time) error
	// markReviewed sets the records' status, recording entry seq as the
	// review that changed it.
	markReviewed(ctx context.Context, ids []int64, status string, seq int64) error
}

// applyReview carries out a review in tx: one ledger entry naming the
// reviewer, the reason, the counts and amounts, covering the events a
// release inserted and every record whose status it changed.
func applyReview(ctx context.Context, tx reviewTx, req ReviewRequest, now time.Time) (ReviewResult, error) {
	now = normTime(now)
	at := now
	if !req.At.IsZero() {
		at = normTime(req.At)
	}
	if req.Decision == DecisionRelease {
		if err := tx.lockEvents(ctx); err != nil {
			return ReviewResult{}, err
		}
	}
	headSeq, headHash, err := tx.lockHead(ctx)
	if err != nil {
		return ReviewResult{}, err
	}
	if prior, err := tx.findReview(ctx, req.Source, req.ID); err != nil {
		return ReviewResult{}, err
	} else if prior != nil {
		d, err := decodeReviewDetail(prior.Detail)
		if err != nil {
			return ReviewResult{}, fmt.Errorf("review %s was applied at entry %d, whose detail does not decode: %w", req.ID, prior.Seq, err)
		}
		res := d.ReviewResult
		res.Seq, res.LedgerHash, res.At, res.Repeated = prior.Seq, prior.Hash, prior.At, true
		return res, nil
	}
	e := &LedgerEntry{Kind: EntryReview, Source: req.Source, RunID: req.ID, At: at, Actor: req.Reviewer}
	if err := numberEntry(ctx, tx, e, headSeq, headHash, now); err != nil {
		return ReviewResult{}, err
	}

	all, err := tx.pending(ctx, req.Source)
	if err != nil {
		return ReviewResult{}, err
	}
	var res ReviewResult
	var ids []int64
	var events []eventRow
	var released, discarded big.Rat
	var hasReleased, hasDiscarded bool
	currencies := map[string]bool{}
	for i := range all {
		q := &all[i]
		if !req.Selection.matches(q) {
			continue
		}
		res.Matched++
		if req.Decision == DecisionRelease && q.Event == nil {
			res.Unreleasable++
			continue
		}
		ids = append(ids, q.ID)
		if res.OldestHeld.IsZero() || q.At.Before(res.OldestHeld) {
			res.OldestHeld = q.At
		}
		if q.Event == nil {
			continue
		}
		if q.Event.Currency != "" {
			currencies[q.Event.Currency] = true
		}
		if req.Decision == DecisionDiscard {
			if q.Event.Amount != nil {
				if err := addDecimal(&discarded, strconv.FormatFloat(*q.Event.Amount, 'f', -1, 64)); err != nil {
					return ReviewResult{}, fmt.Errorf("quarantined record %d: %w", q.ID, err)
				}
				hasDiscarded = true
			}
			continue
		}
		r, err := eventRowOf(*q.Event)
		if err != nil {
			return ReviewResult{}, fmt.Errorf("quarantined record %d: %w", q.ID, err)
		}
		events = append(events, r)
	}
	status := QuarantineDiscarded
	if req.Decision == DecisionRelease {
		status = QuarantineReleased
		if err := tx.insertEvents(ctx, events, e.Seq, now); err != nil {
			return ReviewResult{}, fmt.Errorf("load released events: %w", err)
		}
	}
	if err := tx.markReviewed(ctx, ids, status, e.Seq); err != nil {
		return ReviewResult{}, fmt.Errorf("mark records %s: %w", status, err)
	}
	var acc entryAccount
	if err := tx.readEntry(ctx, e.Seq, &acc); err != nil {
		return ReviewResult{}, err
	}
	if req.Decision == DecisionRelease {
		res.Released = int64(len(acc.events))
		res.Duplicates = int64(len(events)) - res.Released
		if acc.hasLoaded {
			released.Set(&acc.loaded)
			hasReleased = true
		}
	} else {
		res.Discarded = int64(len(ids))
	}
	if hasReleased {
		res.AmountReleased = FormatDecimal(&released)
	}
	if hasDiscarded {
		res.AmountDiscarded = FormatDecimal(&discarded)
	}
	if len(currencies) == 1 {
		for c := range currencies {
			res.Currency = c
		}
	}
	detail, err := json.Marshal(reviewDetail{Decision: req.Decision, Reason: req.Reason, Identified: req.Identified,
		Object: req.Object, Selection: req.Selection, ReviewResult: res})
	if err != nil {
		return ReviewResult{}, err
	}
	e.Detail = string(detail)
	e.Duplicates = res.Duplicates
	if err := acc.fill(e); err != nil {
		return ReviewResult{}, err
	}
	e.Hash = LedgerHash(*e)
	if err := tx.appendEntry(ctx, e); err != nil {
		return ReviewResult{}, err
	}
	res.Seq, res.LedgerHash, res.At = e.Seq, e.Hash, e.At
	return res, nil
}

func decodeReviewDetail(s string) (reviewDetail, error) {
	var d reviewDetail
	err := json.Unmarshal([]byte(s), &d)
	return d, err
}
