// Package evidence builds the completeness-and-accuracy evidence of the
// information the system produced (PCAOB AS 1105) from a store's ledger:
// per run and per day, read = accepted + duplicates + quarantined +
// rejected in records and in amounts; every review with who, when, why and
// how long records waited; every configuration a run used and who last
// changed it; and whether the ledger verifies.
package evidence

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// Options select what a report covers.
type Options struct {
	// Source ("namespace/name"), "" for every source in the ledger.
	Source string
	// From and To bound the entries' times: [From, To).
	From, To time.Time
	// Now is when the report is made (pending ages).
	Now time.Time
	// Anchors are passed to the ledger's verification.
	Anchors []string
}

// Report is the evidence.
type Report struct {
	GeneratedAt time.Time    `json:"generatedAt"`
	Source      string       `json:"source,omitempty"`
	From        *time.Time   `json:"from,omitempty"`
	To          *time.Time   `json:"to,omitempty"`
	Ledger      LedgerCheck  `json:"ledger"`
	Runs        []Run        `json:"runs"`
	Days        []Day        `json:"days"`
	Reviews     []Review     `json:"reviews"`
	Retirements []Retirement `json:"retirements"`
	Changes     []Change     `json:"configurationChanges"`
	Pending     []Pending    `json:"pending"`
	Totals      Counts       `json:"totals"`
	Unbalanced  int          `json:"unbalanced"`
	Incomplete  int          `json:"incomplete"`
	Sources     []string     `json:"sources"`
	Entries     int          `json:"entries"`
	Problems    []string     `json:"problems,omitempty"`
	ledgerError error        `json:"-"`
}

// LedgerCheck is what verifying the ledger found when the report was made.
type LedgerCheck struct {
	Verifies bool  `json:"verifies"`
	Entries  int64 `json:"entries"`
	Rows     int64 `json:"rows"`
	Anchors  int   `json:"anchors"`
	// Retired rows were retired by policy and verified from the hashes the
	// ledger keeps of them.
	Retired int64  `json:"retired"`
	Head    string `json:"head"`
	Problem string `json:"problem,omitempty"`
}

// Counts is read = accepted + duplicates + quarantined + rejected, in
// records and in amounts.
type Counts struct {
	Read              int64  `json:"read"`
	Accepted          int64  `json:"accepted"`
	Duplicates        int64  `json:"duplicates"`
	Quarantined       int64  `json:"quarantined"`
	Rejected          int64  `json:"rejected"`
	AmountRead        string `json:"amountRead"`
	AmountLoaded      string `json:"amountLoaded"`
	AmountDuplicates  string `json:"amountDuplicates"`
	AmountQuarantined string `json:"amountQuarantined"`
	AmountRejected    string `json:"amountRejected"`
	// Balanced says both equations hold.
	Balanced bool `json:"balanced"`

	amounts [5]big.Rat
}

func (c *Counts) add(e *store.LedgerEntry) error {
	c.Read += e.Read
	c.Accepted += e.Accepted
	c.Duplicates += e.Duplicates
	c.Quarantined += e.Quarantined
	c.Rejected += e.Rejected
	for i, v := range []string{e.AmountRead, e.AmountLoaded, e.AmountDuplicates, e.AmountQuarantined, e.AmountRejected} {
		if v == "" {
			continue
		}
		var r big.Rat
		if _, ok := r.SetString(v); !ok {
			return fmt.Errorf("ledger entry %d: amount %q is not a decimal number", e.Seq, v)
		}
		c.amounts[i].Add(&c.amounts[i], &r)
	}
	return nil
}

func (c *Counts) merge(o *Counts) {
	c.Read += o.Read
	c.Accepted += o.Accepted
	c.Duplicates += o.Duplicates
	c.Quarantined += o.Quarantined
	c.Rejected += o.Rejected
	for i := range c.amounts {
		c.amounts[i].Add(&c.amounts[i], &o.amounts[i])
	}
}

// close writes the amounts and checks the balance.
func (c *Counts) close() {
	for i, dst := range []*string{&c.AmountRead, &c.AmountLoaded, &c.AmountDuplicates, &c.AmountQuarantined, &c.AmountRejected} {
		*dst = store.FormatDecimal(&c.amounts[i])
	}
	var rest big.Rat
	for i := 1; i < 5; i++ {
		rest.Add(&rest, &c.amounts[i])
	}
	c.Balanced = c.Read == c.Accepted+c.Duplicates+c.Quarantined+c.Rejected && rest.Cmp(&c.amounts[0]) == 0
}

// Run is one ingest run (or the webhook deliveries of one day, which share
// a run ID), from its ledger entries.
type Run struct {
	Source   string    `json:"source"`
	RunID    string    `json:"runID"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Outcome from the run's closing entry; "" when it has none (webhook
	// deliveries, or a run that stopped before closing: Incomplete).
	Outcome    string   `json:"outcome,omitempty"`
	Incomplete bool     `json:"incomplete,omitempty"`
	Batches    int      `json:"batches"`
	ConfigHash string   `json:"configHash,omitempty"`
	Editors    []Editor `json:"editors,omitempty"`
	Counts
}

// Editor is who last changed an object a run was configured by.
type Editor struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	By   string `json:"by,omitempty"`
	Via  string `json:"via,omitempty"`
	At   string `json:"at,omitempty"`
}

// Day sums the runs that finished on one day (UTC).
type Day struct {
	Date string `json:"date"`
	Runs int    `json:"runs"`
	Counts
}

// Review is one review decision.
type Review struct {
	Source     string    `json:"source"`
	ID         string    `json:"id"`
	Object     string    `json:"object,omitempty"`
	Reviewer   string    `json:"reviewer"`
	Identified string    `json:"identified,omitempty"`
	At         time.Time `json:"at"`
	Decision   string    `json:"decision"`
	Reason     string    `json:"reason"`
	Matched    int64     `json:"matched"`
	Released   int64     `json:"released"`
	Duplicates int64     `json:"duplicates"`
	Discarded  int64     `json:"discarded"`
	Amount     string    `json:"amount,omitempty"`
	Currency   string    `json:"currency,omitempty"`
	// TimeToResolve is how long the reviewed records waited: the decision's
	// time less the time the oldest of them was held (and the mean), in
	// seconds in JSON.
	TimeToResolve     Duration `json:"timeToResolveSeconds"`
	MeanTimeToResolve Duration `json:"meanTimeToResolveSeconds"`
	LedgerHash        string   `json:"ledgerHash"`
}

// Retirement is events retired by a retention policy: who, why, through
// when, and how many (of the report's source, or of all).
type Retirement struct {
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Reason  string    `json:"reason"`
	Horizon time.Time `json:"horizon"`
	Events  int64     `json:"events"`
	// Covered of them were rows ledger entries covered: the ledger keeps
	// their hashes, so those entries still verify.
	Covered    int64  `json:"covered"`
	LedgerHash string `json:"ledgerHash"`
}

// Change is one configuration that runs used, in the order first used.
type Change struct {
	Source     string    `json:"source"`
	ConfigHash string    `json:"configHash"`
	FirstUsed  time.Time `json:"firstUsed"`
	FirstRun   string    `json:"firstRun"`
	Runs       int       `json:"runs"`
	Editors    []Editor  `json:"editors,omitempty"`
}

// Pending is what a source holds for review now.
type Pending struct {
	Source  string               `json:"source"`
	Pending int64                `json:"pending"`
	Oldest  *time.Time           `json:"oldest,omitempty"`
	Age     Duration             `json:"ageSeconds"`
	ByCheck []store.CheckPending `json:"byCheck,omitempty"`
}

// Duration is a wait; in JSON, in seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).Seconds()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(s * float64(time.Second))
	return nil
}

func (d Duration) String() string {
	t := time.Duration(d)
	switch {
	case t == 0:
		return "0s"
	case t >= 48*time.Hour:
		return fmt.Sprintf("%.1fd", t.Hours()/24)
	default:
		return t.Round(time.Minute).String()
	}
}

// Build reads the ledger, the quarantine and the pending records of st and
// makes the report.
func Build(ctx context.Context, st store.Store, o Options) (*Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	rep := &Report{GeneratedAt: o.Now.UTC(), Source: o.Source}
	if !o.From.IsZero() {
		rep.From = &o.From
	}
	if !o.To.IsZero() {
		rep.To = &o.To
	}
	vr, verr := st.Verify(ctx, store.VerifyOptions{Anchors: o.Anchors})
	rep.Ledger = LedgerCheck{Verifies: verr == nil, Entries: vr.Entries, Rows: vr.Rows, Anchors: vr.Anchors, Retired: vr.Retired, Head: vr.Head}
	if verr != nil {
		rep.Ledger.Problem = verr.Error()
		rep.ledgerError = verr
	}
	entries, err := st.LedgerEntries(ctx, store.LedgerFilter{Source: o.Source, From: o.From, To: o.To})
	if err != nil {
		return nil, err
	}
	if o.Source != "" {
		// Retirements are the store's, not a source's: those that retired
		// some of the source's events belong in its evidence.
		retires, err := st.LedgerEntries(ctx, store.LedgerFilter{Kinds: []store.EntryKind{store.EntryRetire}, From: o.From, To: o.To})
		if err != nil {
			return nil, err
		}
		entries = append(entries, retires...)
	}
	rep.Entries = len(entries)
	if err := rep.fold(entries); err != nil {
		return nil, err
	}
	if err := rep.resolveTimes(ctx, st); err != nil {
		return nil, err
	}
	var sources []string
	if o.Source != "" {
		sources = []string{o.Source}
	}
	pending, err := st.Pending(ctx, sources)
	if err != nil {
		return nil, err
	}
	for _, src := range sortedKeys(pending) {
		p := pending[src]
		row := Pending{Source: src, Pending: p.Pending, ByCheck: p.ByCheck}
		if !p.Oldest.IsZero() {
			oldest := p.Oldest
			row.Oldest, row.Age = &oldest, Duration(o.Now.Sub(oldest))
		}
		rep.Pending = append(rep.Pending, row)
	}
	return rep, nil
}

// retirement adds a retire entry, counting the report's source's events
// (all sources' without one); one that retired none of them is left out.
func (rep *Report) retirement(e *store.LedgerEntry) error {
	d, err := store.DecodeRetireDetail(e.Detail)
	if err != nil {
		return fmt.Errorf("ledger entry %d: detail: %w", e.Seq, err)
	}
	r := Retirement{At: e.At, Actor: e.Actor, Reason: d.Reason, Horizon: d.Horizon, Events: e.Read, Covered: d.Covered, LedgerHash: e.Hash}
	if rep.Source != "" {
		if r.Events = d.Events[rep.Source]; r.Events == 0 {
			return nil
		}
	}
	rep.Retirements = append(rep.Retirements, r)
	return nil
}

// runDetail is the closing entry's detail (internal/ingest writes it).
type runDetail struct {
	Outcome string   `json:"outcome"`
	Message string   `json:"message"`
	Editors []Editor `json:"editors"`
}

// reviewDetail is a review entry's detail (internal/store writes it).
type reviewDetail struct {
	Decision        string `json:"decision"`
	Reason          string `json:"reason"`
	Identified      string `json:"identified"`
	Object          string `json:"object"`
	Matched         int64  `json:"matched"`
	Released        int64  `json:"released"`
	Duplicates      int64  `json:"duplicates"`
	Discarded       int64  `json:"discarded"`
	AmountReleased  string `json:"amountReleased"`
	AmountDiscarded string `json:"amountDiscarded"`
	Currency        string `json:"currency"`
}

// fold groups batch and run entries into runs, days and configuration
// changes, and review entries into reviews.
func (rep *Report) fold(entries []store.LedgerEntry) error {
	type key struct{ source, run string }
	runs := map[key]*Run{}
	var order []key
	sources := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		if e.Kind == store.EntryRetire {
			if err := rep.retirement(e); err != nil {
				return err
			}
			continue
		}
		sources[e.Source] = true
		switch e.Kind {
		case store.EntryBatch, store.EntryRun, store.EntryLegacy:
			k := key{e.Source, e.RunID}
			r := runs[k]
			if r == nil {
				r = &Run{Source: e.Source, RunID: e.RunID, Started: e.At}
				runs[k] = r
				order = append(order, k)
			}
			r.Finished = e.At
			if e.ConfigHash != "" {
				r.ConfigHash = e.ConfigHash
			}
			switch e.Kind {
			case store.EntryRun:
				var d runDetail
				if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
					return fmt.Errorf("ledger entry %d: detail: %w", e.Seq, err)
				}
				r.Outcome, r.Editors = d.Outcome, d.Editors
			case store.EntryBatch:
				r.Batches++
			case store.EntryLegacy:
				// Before entries covered data, a run wrote an entry per
				// batch and one more with the run's totals: keep the
				// totals, once.
				if e.Read >= r.Read {
					r.Counts = Counts{}
				} else {
					continue
				}
			}
			if err := r.Counts.add(e); err != nil {
				return err
			}
		case store.EntryReview:
			var d reviewDetail
			if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
				return fmt.Errorf("ledger entry %d: detail: %w", e.Seq, err)
			}
			amount := d.AmountReleased
			if d.Decision == store.DecisionDiscard {
				amount = d.AmountDiscarded
			}
			rep.Reviews = append(rep.Reviews, Review{Source: e.Source, ID: e.RunID, Object: d.Object, Reviewer: e.Actor,
				Identified: d.Identified, At: e.At, Decision: d.Decision, Reason: d.Reason, Matched: d.Matched, Released: d.Released,
				Duplicates: d.Duplicates, Discarded: d.Discarded, Amount: amount, Currency: d.Currency, LedgerHash: e.Hash})
		}
	}
	days := map[string]*Day{}
	changes := map[[2]string]*Change{}
	var changeOrder [][2]string
	for _, k := range order {
		r := runs[k]
		r.Incomplete = r.Outcome == "" && r.Batches > 0 && !isWebhookRun(r.RunID)
		r.Counts.close()
		if !r.Balanced {
			rep.Unbalanced++
			rep.Problems = append(rep.Problems, fmt.Sprintf("run %s of %s does not balance: read %d, accepted %d + duplicates %d + quarantined %d + rejected %d; amounts %s read, %s + %s + %s + %s",
				r.RunID, r.Source, r.Read, r.Accepted, r.Duplicates, r.Quarantined, r.Rejected, r.AmountRead, r.AmountLoaded, r.AmountDuplicates, r.AmountQuarantined, r.AmountRejected))
		}
		if r.Incomplete {
			rep.Incomplete++
			rep.Problems = append(rep.Problems, fmt.Sprintf("run %s of %s committed %d batch(es) but never closed: it stopped before finishing (the next run resumes from its cursor)",
				r.RunID, r.Source, r.Batches))
		}
		rep.Runs = append(rep.Runs, *r)
		date := r.Finished.UTC().Format("2006-01-02")
		d := days[date]
		if d == nil {
			d = &Day{Date: date}
			days[date] = d
		}
		d.Runs++
		d.Counts.merge(&r.Counts)
		rep.Totals.merge(&r.Counts)
		if r.ConfigHash != "" {
			ck := [2]string{r.Source, r.ConfigHash}
			c := changes[ck]
			if c == nil {
				c = &Change{Source: r.Source, ConfigHash: r.ConfigHash, FirstUsed: r.Started, FirstRun: r.RunID, Editors: r.Editors}
				changes[ck] = c
				changeOrder = append(changeOrder, ck)
			}
			c.Runs++
			if len(c.Editors) == 0 {
				c.Editors = r.Editors
			}
		}
	}
	for _, date := range sortedKeys(days) {
		d := days[date]
		d.Counts.close()
		rep.Days = append(rep.Days, *d)
	}
	for _, ck := range changeOrder {
		rep.Changes = append(rep.Changes, *changes[ck])
	}
	rep.Totals.close()
	rep.Sources = sortedKeys(sources)
	return nil
}

// isWebhookRun says whether a run ID is a day of webhook deliveries, which
// has no closing entry.
func isWebhookRun(id string) bool { return len(id) > 8 && id[:8] == "webhook-" }

// resolveTimes measures how long each review's records waited.
func (rep *Report) resolveTimes(ctx context.Context, st store.Store) error {
	if len(rep.Reviews) == 0 {
		return nil
	}
	bySource := map[string]bool{}
	for _, r := range rep.Reviews {
		bySource[r.Source] = true
	}
	held := map[string][]time.Time{} // review ID -> held times of its records
	for src := range bySource {
		for _, status := range []string{store.QuarantineReleased, store.QuarantineDiscarded} {
			records, err := st.FindQuarantine(ctx, store.QuarantineFilter{Source: src, Status: status})
			if err != nil {
				return err
			}
			for _, q := range records {
				if q.Review != nil {
					held[q.Review.ID] = append(held[q.Review.ID], q.At)
				}
			}
		}
	}
	for i := range rep.Reviews {
		r := &rep.Reviews[i]
		times := held[r.ID]
		if len(times) == 0 {
			continue
		}
		sort.Slice(times, func(a, b int) bool { return times[a].Before(times[b]) })
		r.TimeToResolve = Duration(r.At.Sub(times[0]))
		var sum time.Duration
		for _, t := range times {
			sum += r.At.Sub(t)
		}
		r.MeanTimeToResolve = Duration(sum / time.Duration(len(times)))
	}
	return nil
}

// LedgerError is the ledger's verification error, if any.
func (rep *Report) LedgerError() error { return rep.ledgerError }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
