package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Both stores keep times at microsecond precision, PostgreSQL's: a ledger
// entry's At is hashed, and a hash over nanoseconds that the database then
// drops would never verify again.
const timePrecision = time.Microsecond

func normTime(t time.Time) time.Time { return t.UTC().Truncate(timePrecision) }

// decimalRE is what Run and LedgerEntry amounts must look like: a plain
// decimal number ("18234.50", "-3", "0.125") or "" for none.
var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// eventRow is an Event as the stores write it.
type eventRow struct {
	Event
	// amount is the exact decimal text of Event.Amount (nil for none): the
	// shortest string that parses back to the same float64.
	amount *string
	// attrs is Attributes as JSON (nil for none).
	attrs []byte
}

// quarantineRow is a QuarantineRecord as the stores write it.
type quarantineRow struct {
	QuarantineRecord
	// event is Event as JSON (heldEvent), "" for none; hash is
	// RecordHash(Raw), which holds the record once.
	event, hash string
}

// prepared is a validated Batch with defaults filled in, ready to write.
// Everything that can be refused without the database is refused here,
// before a transaction starts.
type prepared struct {
	source string
	now    time.Time
	events []eventRow
	// eventSources are the sources of events, each once: the commit
	// advances their newest sequence number (LatestSeq).
	eventSources []string
	quarantine   []quarantineRow
	keys         []UniqueKey
	cursor       *string
	offsets      *StreamCommit
	ledger       *LedgerEntry
	run          *Run
	// reportExisting is Batch.ReportExisting; existing is what the commit
	// found (CommitResult.Existing).
	reportExisting bool
	existing       map[string]bool
}

// eventRowOf checks an event (with its source set) and encodes what the
// stores write of it.
func eventRowOf(e Event) (eventRow, error) {
	r := eventRow{Event: e}
	r.OccurredAt = normTime(e.OccurredAt)
	if e.Amount != nil {
		if math.IsNaN(*e.Amount) || math.IsInf(*e.Amount, 0) {
			return r, fmt.Errorf("event %q: amount %v is not a finite number", e.EventID, *e.Amount)
		}
		s := strconv.FormatFloat(*e.Amount, 'f', -1, 64)
		r.amount = &s
	}
	if e.Attributes != nil {
		var err error
		if r.attrs, err = json.Marshal(e.Attributes); err != nil {
			return r, fmt.Errorf("event %q: attributes are not JSON: %w", e.EventID, err)
		}
	}
	return r, nil
}

func prepareBatch(b Batch, now time.Time) (*prepared, error) {
	p := &prepared{source: b.Source, now: normTime(now), cursor: b.Cursor, reportExisting: b.ReportExisting}
	// src resolves an item's source; what names the item, only for an
	// error, so that it is not formatted for every item.
	src := func(what func() string, s string) (string, error) {
		switch {
		case s == "" && b.Source == "":
			return "", fmt.Errorf("%s has no source and neither has the batch", what())
		case s == "":
			return b.Source, nil
		case b.Source != "" && s != b.Source:
			return "", fmt.Errorf("%s is of source %q but the batch is of %q", what(), s, b.Source)
		}
		return s, nil
	}
	var err error

	p.events = make([]eventRow, len(b.Events))
	for i, e := range b.Events {
		if e.Source, err = src(func() string { return fmt.Sprintf("event %q", e.EventID) }, e.Source); err != nil {
			return nil, err
		}
		if e.EventID == "" {
			return nil, fmt.Errorf("event %d of the batch has no event ID", i)
		}
		if !slices.Contains(p.eventSources, e.Source) {
			p.eventSources = append(p.eventSources, e.Source)
		}
		if p.events[i], err = eventRowOf(e); err != nil {
			return nil, err
		}
	}

	p.quarantine = make([]quarantineRow, len(b.Quarantine))
	for i, q := range b.Quarantine {
		if q.Source, err = src(func() string { return fmt.Sprintf("quarantined record %d", i) }, q.Source); err != nil {
			return nil, err
		}
		if q.At.IsZero() {
			q.At = p.now
		}
		q.At = normTime(q.At)
		if q.Status == "" {
			q.Status = QuarantinePending
		}
		q.ID = 0
		row := quarantineRow{QuarantineRecord: q, hash: RecordHash(q.Raw)}
		if q.Event != nil {
			e := *q.Event
			e.Source = q.Source
			if e.EventID == "" {
				e.EventID = q.EventID
			}
			r, err := eventRowOf(e)
			if err != nil {
				return nil, fmt.Errorf("quarantined record %d: %w", i, err)
			}
			if row.event, err = encodeHeldEvent(&r); err != nil {
				return nil, fmt.Errorf("quarantined record %d: %w", i, err)
			}
		}
		p.quarantine[i] = row
	}

	// A unique check's key remembers its latest occurrence, so that a key
	// seen again after its window opens a new window. A batch may carry a
	// key twice; keep the latest, since one statement cannot update a row
	// twice.
	latest := make(map[[3]string]int, len(b.UniqueKeys))
	p.keys = make([]UniqueKey, 0, len(b.UniqueKeys))
	for _, k := range b.UniqueKeys {
		if k.Source, err = src(func() string { return fmt.Sprintf("unique key %q of check %q", k.Key, k.Check) }, k.Source); err != nil {
			return nil, err
		}
		k.OccurredAt = normTime(k.OccurredAt)
		id := [3]string{k.Source, k.Check, k.Key}
		if j, ok := latest[id]; ok {
			if k.OccurredAt.After(p.keys[j].OccurredAt) {
				p.keys[j] = k
			}
			continue
		}
		latest[id] = len(p.keys)
		p.keys = append(p.keys, k)
	}

	if b.Cursor != nil && b.Source == "" {
		return nil, errors.New("the batch advances a cursor but names no source")
	}
	if p.offsets, err = prepareOffsets(b.Source, b.Offsets); err != nil {
		return nil, err
	}

	if b.Run != nil {
		r := *b.Run
		if r.Source, err = src(func() string { return fmt.Sprintf("run %q", r.ID) }, r.Source); err != nil {
			return nil, err
		}
		if r.ID == "" {
			return nil, errors.New("the batch's run has no ID")
		}
		for name, v := range map[string]string{"amountRead": r.AmountRead, "amountLoaded": r.AmountLoaded} {
			if v != "" && !decimalRE.MatchString(v) {
				return nil, fmt.Errorf("run %q: %s %q is not a decimal number", r.ID, name, v)
			}
		}
		r.StartedAt, r.FinishedAt = normTime(r.StartedAt), normTime(r.FinishedAt)
		p.run = &r
	}

	if b.Ledger != nil {
		l := *b.Ledger
		if l.Source, err = src(func() string { return "the ledger entry" }, l.Source); err != nil {
			return nil, err
		}
		switch l.Kind {
		case EntryLegacy:
			l.Kind = EntryBatch
		case EntryBatch, EntryRun:
		default:
			return nil, fmt.Errorf("a batch's ledger entry is of kind %q: want %q or %q", l.Kind, EntryBatch, EntryRun)
		}
		if l.RunID == "" && p.run != nil {
			l.RunID = p.run.ID
		}
		if l.At.IsZero() {
			l.At = p.now
		}
		l.At = normTime(l.At)
		for name, v := range map[string]string{"amountRead": l.AmountRead, "amountRejected": l.AmountRejected} {
			if v != "" && !decimalRE.MatchString(v) {
				return nil, fmt.Errorf("ledger entry of run %q: %s %q is not a decimal number", l.RunID, name, v)
			}
		}
		if l.Read < int64(len(p.events)+len(p.quarantine))+l.Rejected {
			return nil, fmt.Errorf("ledger entry of run %q: %d read, fewer than the batch's %d events, %d quarantined and %d rejected records",
				l.RunID, l.Read, len(p.events), len(p.quarantine), l.Rejected)
		}
		l.Seq, l.PrevHash, l.Hash, l.Digest = 0, "", "", ""
		l.Accepted, l.Quarantined, l.Duplicates = 0, 0, 0
		l.AmountLoaded, l.AmountQuarantined, l.AmountDuplicates = "", "", ""
		p.ledger = &l
	}
	return p, nil
}

// result reports a committed batch, and hands the store-assigned fields
// back to the caller's Ledger and Run.
func (p *prepared) result(b Batch, inserted, held int) CommitResult {
	res := CommitResult{Inserted: inserted, Held: held, Existing: p.existing}
	if p.ledger != nil {
		res.LedgerHash = p.ledger.Hash
		*b.Ledger = *p.ledger
		if b.Run != nil {
			b.Run.LedgerHash = p.ledger.Hash
		}
	}
	return res
}

// dedupe returns ids without repeats or empty strings, sorted, so that
// chunks are stable and the database reads its index in order.
func dedupe(ids []string) []string {
	out := make([]string, 0, len(ids))
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, ok := seen[id]; ok || id == "" {
			continue
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// chunks calls fn on consecutive slices of at most size ids.
func chunks(ids []string, size int, fn func([]string) error) error {
	for len(ids) > 0 {
		n := min(size, len(ids))
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// cancelled names ctx's cancellation as the cause of err when there is
// one. A cancelled statement often fails as a symptom: database/sql rolls
// the transaction back under it ("statement is closed"), pgx closes the
// connection under a COPY ("use of closed network connection"). A
// stopped run should read as stopped, and errors.Is should find it.
func cancelled(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w (%v)", cause, err)
	}
	return err
}
