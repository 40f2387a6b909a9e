// Package ingest runs one batch ingest of one source: read records through
// its connector, put them through the pipeline batch by batch, and commit
// each batch (events, quarantine, unique keys, cursor advance, ledger entry)
// in one transaction. A run killed between batches resumes from the last
// committed cursor, and deduplication on (source, eventID) makes the overlap
// harmless: nothing is lost, nothing is counted twice.
package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// DefaultBatchSize is how many records commit together.
const DefaultBatchSize = 5000

// Options are what a run needs besides the source's configuration.
type Options struct {
	Store      store.Store
	Expr       *expr.Env
	Secrets    connector.Secrets
	BaseDir    string
	HTTPClient *http.Client
	BatchSize  int
	// Now is the clock of the run's records (start, finish, ledger entries).
	Now func() time.Time
	// AsOf is when run-level checks judge the feed from (freshness); nil:
	// Now. `journey run --as-of` sets it to replay a dataset as of its date.
	AsOf func() time.Time
	// RunID names the run; empty: generated.
	RunID string
	// Progress, when set, is called after each committed batch.
	Progress func(read int64)
	// AfterCommit, when set, is called after each committed batch; tests use
	// it to stop a run between batches as a crash would.
	AfterCommit func(batch int) error
}

// CheckCount counts one check's failures in a run.
type CheckCount struct {
	Failed int64 `json:"failed"`
}

// Summary is what a run reports: the run summary the controller copies into
// status.lastRun, plus failures per check.
type Summary struct {
	v1alpha1.RunSummary `json:",inline"`
	Source              string                `json:"source"`
	Checks              map[string]CheckCount `json:"checks,omitempty"`
	// Quarantine is what the source holds for review after the run
	// (financial sources).
	Quarantine *v1alpha1.QuarantineStatus `json:"quarantine,omitempty"`
}

// maxByCheck bounds the checks a quarantine status lists: it travels in a
// termination message (4 KiB) and in the object's status.
const maxByCheck = 8

// QuarantineStatus is a store's pending summary as the API reports it.
func QuarantineStatus(p store.PendingSummary, asOf time.Time) *v1alpha1.QuarantineStatus {
	q := &v1alpha1.QuarantineStatus{Pending: p.Pending, AsOf: timePtr(asOf)}
	if !p.Oldest.IsZero() {
		q.OldestPendingTime = timePtr(p.Oldest)
	}
	for i, c := range p.ByCheck {
		if i == maxByCheck {
			break
		}
		q.ByCheck = append(q.ByCheck, v1alpha1.CheckPending{Check: c.Check, Pending: c.Pending, OldestPendingTime: timePtr(c.Oldest)})
	}
	return q
}

type totals struct {
	read, accepted, duplicates, quarantined, rejected, warnings int64
	// Amounts of the records read, and of what became of them; for
	// financial sources, as the store counted what it inserted.
	amountRead, amountLoaded, amountDuplicates, amountQuarantined, amountRejected *big.Rat
	currencies                                                                    map[string]bool
	failed                                                                        map[string]int64
	newest                                                                        time.Time
}

// Run ingests one batch source once. It returns the run's summary; the error
// is set when the run failed (the summary then says why, too).
func Run(ctx context.Context, cfg runconfig.Source, configHash string, o Options) (Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AsOf == nil {
		o.AsOf = o.Now
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.RunID == "" {
		o.RunID = newRunID(o.Now())
	}
	src := pipeline.SourceID(cfg.Namespace, cfg.Name)
	start := o.Now()
	t := &totals{amountRead: new(big.Rat), amountLoaded: new(big.Rat), amountDuplicates: new(big.Rat), amountQuarantined: new(big.Rat),
		amountRejected: new(big.Rat), currencies: map[string]bool{}, failed: map[string]int64{}}
	r := &runner{cfg: cfg, hash: configHash, o: o, src: src, start: start, t: t}

	p, err := pipeline.New(o.Expr, cfg)
	if err != nil {
		return r.finish(ctx, "", err)
	}
	if cfg.Spec.Batch == nil {
		return r.finish(ctx, "", fmt.Errorf("source %s is not a batch source", src))
	}
	cursor, err := o.Store.Cursor(ctx, src)
	if err != nil {
		return r.finish(ctx, "", err)
	}
	copts := connector.Options{Cursor: cursor, BaseDir: o.BaseDir, Secrets: o.Secrets, Expr: o.Expr, HTTPClient: o.HTTPClient}

	// A run-level check that rejects must judge the run before anything is
	// committed: read the input once to judge it, then again to load it.
	if rejecting := runChecks(p.RunChecks, v1alpha1.ActionReject); len(rejecting) > 0 {
		read, newest, err := prescan(ctx, p, cfg, copts)
		if err != nil {
			return r.finish(ctx, cursor, err)
		}
		if failures := r.judge(ctx, rejecting, read, newest); len(failures) > 0 {
			// The whole run is rejected: every record it read.
			t.read, t.rejected = read, read
			return r.finish(ctx, cursor, &runLevelError{failures.String()})
		}
	}

	reader, err := connector.Open(ctx, cfg.Spec.Batch, copts)
	if err != nil {
		return r.finish(ctx, cursor, err)
	}
	defer reader.Close()
	// A batch commits while the next one is read and checked: the commit is
	// mostly the database's work, the checks the pipeline's, and the two
	// overlap. Commits still happen one at a time and in order, each with
	// its cursor and ledger entry. The next batch is checked against a view
	// of the store that includes the batch in flight (store.WithPending), so
	// a duplicate, a unique key or a user split across the two is judged as
	// if the first had committed already.
	known := rememberKnownUsers(o.Store)
	var flight *inFlight
	// settle waits for the batch in flight, if any, and moves the cursor
	// past it once it has committed.
	settle := func() error {
		if flight == nil {
			return nil
		}
		f := flight
		flight = nil
		if err := <-f.done; err != nil {
			return err
		}
		cursor = f.cursor
		if o.Progress != nil {
			o.Progress(t.read)
		}
		if o.AfterCommit != nil {
			return o.AfterCommit(f.number)
		}
		return nil
	}
	// fail ends the run on err, after the batch in flight settles: whether
	// it committed decides the cursor the run reports, and if it failed,
	// its error is the run's, as it came first.
	fail := func(err error) (Summary, error) {
		if serr := settle(); serr != nil {
			err = serr
		}
		return r.finish(ctx, cursor, err)
	}
	for batch := 1; ; batch++ {
		in, eof, err := readBatch(ctx, reader, o.BatchSize)
		if err != nil {
			return fail(err)
		}
		if len(in) > 0 {
			var st store.Store = known
			if flight != nil {
				st = store.WithPending(st, flight.batch)
			}
			res, err := p.Process(ctx, st, o.RunID, o.Now(), in)
			if err != nil {
				return fail(err)
			}
			next := reader.Cursor()
			if err := settle(); err != nil {
				return r.finish(ctx, cursor, err)
			}
			flight = r.startCommit(ctx, res, next, batch)
		}
		if eof {
			break
		}
	}
	if err := settle(); err != nil {
		return r.finish(ctx, cursor, err)
	}
	// Run-level checks that quarantine or warn judge the run after it.
	var failures runLevelFailures
	for _, action := range []v1alpha1.CheckAction{v1alpha1.ActionQuarantine, v1alpha1.ActionWarn} {
		for _, f := range r.judge(ctx, runChecks(p.RunChecks, action), t.read, t.newest) {
			if action == v1alpha1.ActionWarn {
				t.warnings++
			} else {
				failures = append(failures, f)
			}
		}
	}
	r.runLevel = failures
	return r.finish(ctx, cursor, nil)
}

type runLevelError struct{ msg string }

func (e *runLevelError) Error() string { return "run-level check failed: " + e.msg }

type runner struct {
	cfg      runconfig.Source
	hash     string
	o        Options
	src      string
	start    time.Time
	t        *totals
	runLevel runLevelFailures
}

func (r *runner) financial() bool { return r.cfg.Spec.Financial }

// inFlight is a batch being committed.
type inFlight struct {
	batch  store.Batch
	number int
	cursor string
	done   chan error
}

// startCommit commits a batch in the background; the result arrives on done.
func (r *runner) startCommit(ctx context.Context, res *pipeline.Result, cursor string, number int) *inFlight {
	f := &inFlight{batch: r.batch(res, cursor), number: number, cursor: cursor, done: make(chan error, 1)}
	go func() { f.done <- r.commit(ctx, res, f.batch) }()
	return f
}

// batch is what a pipeline result commits as. A financial batch's ledger
// entry carries what was read and rejected; the store counts, from the
// rows the commit inserted, what was accepted, held and duplicated.
func (r *runner) batch(res *pipeline.Result, cursor string) store.Batch {
	b := store.Batch{Source: r.src, Events: res.Events, Quarantine: res.Quarantine, UniqueKeys: res.UniqueKeys}
	if cursor != "" {
		b.Cursor = &cursor
	}
	if r.financial() {
		b.Ledger = &store.LedgerEntry{
			Kind: store.EntryBatch, Source: r.src, RunID: r.o.RunID, At: r.o.Now(), ConfigHash: r.hash,
			Read: res.Read, Rejected: res.Rejected,
			AmountRead: pipeline.Decimal(res.AmountRead), AmountRejected: pipeline.Decimal(res.AmountRejected), Cursor: cursor,
		}
	}
	return b
}

// commit commits a batch and adds what it stored to the run's totals:
// events another run stored first, and records held already, are
// duplicates.
func (r *runner) commit(ctx context.Context, res *pipeline.Result, b store.Batch) error {
	out, err := r.o.Store.Commit(ctx, b)
	if err != nil {
		return fmt.Errorf("committing a batch: %w", err)
	}
	t := r.t
	t.read += res.Read
	t.accepted += int64(out.Inserted)
	t.quarantined += int64(out.Held)
	t.rejected += res.Rejected
	t.duplicates += res.Read - int64(out.Inserted) - int64(out.Held) - res.Rejected
	t.warnings += res.Warnings
	t.amountRead.Add(t.amountRead, res.AmountRead)
	t.amountRejected.Add(t.amountRejected, res.AmountRejected)
	if l := b.Ledger; l != nil {
		for _, a := range []struct {
			sum *big.Rat
			v   string
		}{{t.amountLoaded, l.AmountLoaded}, {t.amountQuarantined, l.AmountQuarantined}, {t.amountDuplicates, l.AmountDuplicates}} {
			if v, ok := new(big.Rat).SetString(orZero(a.v)); ok {
				a.sum.Add(a.sum, v)
			}
		}
	} else {
		t.amountLoaded.Add(t.amountLoaded, res.AmountLoaded)
	}
	for c := range res.Currencies {
		t.currencies[c] = true
	}
	for k, v := range res.Failed {
		t.failed[k] += v
	}
	if res.Newest.After(t.newest) {
		t.newest = res.Newest
	}
	return nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// runDetail is what a run's closing ledger entry records besides counts:
// how it ended, and who last changed its configuration.
type runDetail struct {
	Outcome v1alpha1.RunOutcome `json:"outcome"`
	Message string              `json:"message,omitempty"`
	Editors []Editor            `json:"editors,omitempty"`
}

// Editor is who last changed an object a run was configured by.
type Editor struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	runconfig.Edit
}

// editors of the source and its rules, as the configuration recorded them.
func editors(cfg runconfig.Source) []Editor {
	var out []Editor
	if cfg.Edited != nil {
		out = append(out, Editor{Kind: "TouchpointSource", Name: cfg.Name, Edit: *cfg.Edited})
	}
	for _, rule := range cfg.Rules {
		if rule.Edited != nil {
			out = append(out, Editor{Kind: "ValidationRule", Name: rule.Name, Edit: *rule.Edited})
		}
	}
	return out
}

// finish records the run (and, for financial sources, its ledger entry) and
// builds the summary. runErr, when set, fails the run.
func (r *runner) finish(ctx context.Context, cursor string, runErr error) (Summary, error) {
	t := r.t
	end := r.o.Now()
	outcome := v1alpha1.RunSucceeded
	msg := ""
	switch {
	case runErr != nil:
		outcome, msg = v1alpha1.RunFailed, runErr.Error()
	case len(r.runLevel) > 0:
		// Say what happened to the feed (Stale, VolumeAnomaly), not
		// "Quarantined" with nothing held.
		outcome, msg = r.runLevel.outcome(), "run-level check failed: "+r.runLevel.String()
		if t.quarantined > 0 {
			msg += "; " + heldMessage(t.quarantined)
		}
	case t.quarantined > 0:
		outcome, msg = v1alpha1.RunQuarantined, heldMessage(t.quarantined)
	}
	currency := ""
	if len(t.currencies) == 1 {
		for c := range t.currencies {
			currency = c
		}
	}
	run := store.Run{
		ID: r.o.RunID, Source: r.src, Outcome: string(outcome), Message: msg, StartedAt: r.start, FinishedAt: end,
		Read: t.read, Accepted: t.accepted, Duplicates: t.duplicates, Quarantined: t.quarantined, Rejected: t.rejected, Warnings: t.warnings,
		AmountRead: pipeline.Decimal(t.amountRead), AmountLoaded: pipeline.Decimal(t.amountLoaded), Currency: currency,
		Cursor: cursor, ConfigHash: r.hash,
	}
	b := store.Batch{Source: r.src, Run: &run}
	if r.financial() {
		detail, err := json.Marshal(runDetail{Outcome: outcome, Message: msg, Editors: editors(r.cfg)})
		if err != nil {
			return Summary{}, err
		}
		// The closing entry commits no rows: it counts only what no batch
		// entry did (a run rejected whole), so that sums over entries
		// equal what was read and stored.
		l := &store.LedgerEntry{Kind: store.EntryRun, Source: r.src, RunID: run.ID, At: end, ConfigHash: r.hash, Cursor: cursor,
			Detail: string(detail)}
		if t.read > 0 && t.rejected == t.read && t.accepted+t.quarantined+t.duplicates == 0 {
			l.Read, l.Rejected = t.read, t.read
		}
		b.Ledger = l
	}
	// The run's record is written even when the run failed (a failed run is
	// evidence too), but never under a cancelled context.
	out, err := r.o.Store.Commit(context.WithoutCancel(ctx), b)
	if err == nil {
		run.LedgerHash = out.LedgerHash
	} else if runErr == nil {
		runErr = fmt.Errorf("recording the run: %w", err)
		outcome, run.Outcome, run.Message = v1alpha1.RunFailed, string(v1alpha1.RunFailed), runErr.Error()
	}
	s := Summary{Source: r.src, RunSummary: v1alpha1.RunSummary{
		ID: run.ID, StartTime: timePtr(r.start), CompletionTime: timePtr(end), Outcome: outcome, Message: run.Message,
		Read: t.read, Accepted: t.accepted, Duplicates: t.duplicates, Quarantined: t.quarantined, Rejected: t.rejected, Warnings: t.warnings,
		Currency: currency, Cursor: cursor, ConfigHash: r.hash, LedgerHash: run.LedgerHash,
	}}
	if r.financial() {
		s.AmountTotal, s.AmountLoaded = run.AmountRead, run.AmountLoaded
		s.AmountDuplicates, s.AmountQuarantined, s.AmountRejected = pipeline.Decimal(t.amountDuplicates),
			pipeline.Decimal(t.amountQuarantined), pipeline.Decimal(t.amountRejected)
		if p, err := r.o.Store.Pending(context.WithoutCancel(ctx), []string{r.src}); err == nil {
			s.Quarantine = QuarantineStatus(p[r.src], end)
		}
		// Every run walks the chain it extended: an entry edited or
		// removed since shows on the source (AuditCompliant) within one
		// schedule. The rows themselves are `journey audit verify`'s.
		if _, verr := r.o.Store.Verify(context.WithoutCancel(ctx), store.VerifyOptions{ChainOnly: true}); verr != nil {
			s.LedgerProblem = verr.Error()
		}
	}
	if len(t.failed) > 0 {
		s.Checks = map[string]CheckCount{}
		for k, v := range t.failed {
			s.Checks[k] = CheckCount{Failed: v}
		}
	}
	return s, runErr
}

// judge evaluates run-level checks; it returns one line per failure.
func (r *runner) judge(ctx context.Context, checks []v1alpha1.Check, read int64, newest time.Time) runLevelFailures {
	var out runLevelFailures
	for _, c := range checks {
		switch {
		case c.Freshness != nil:
			max := c.Freshness.MaxAge.Duration
			if newest.IsZero() {
				out = append(out, runLevelFailure{v1alpha1.RunStale, fmt.Sprintf("%s: no event in this run (maxAge %s)", c.Name, max)})
			} else if age := r.o.AsOf().Sub(newest); age > max {
				out = append(out, runLevelFailure{v1alpha1.RunStale,
					fmt.Sprintf("%s: newest event is %s old, more than maxAge %s", c.Name, age.Round(time.Minute), max)})
			}
		case c.Volume != nil:
			v := c.Volume
			if v.MinRecords != nil && read < *v.MinRecords {
				out = append(out, runLevelFailure{v1alpha1.RunVolumeAnomaly,
					fmt.Sprintf("%s: read %d records, fewer than minRecords %d", c.Name, read, *v.MinRecords)})
			}
			if v.MaxChangePercent != nil {
				if mean, n := r.baseline(ctx, int(v.BaselineRuns)); n > 0 && mean > 0 {
					change := 100 * abs(float64(read)-mean) / mean
					if change > float64(*v.MaxChangePercent) {
						out = append(out, runLevelFailure{v1alpha1.RunVolumeAnomaly,
							fmt.Sprintf("%s: read %d records, %.0f%% off the mean of the last %d runs (%.0f); maxChangePercent %d",
								c.Name, read, change, n, mean, *v.MaxChangePercent)})
					}
				}
			}
		}
	}
	return out
}

// baseline is the mean records read by the last n runs that did not fail.
func (r *runner) baseline(ctx context.Context, n int) (float64, int) {
	if n <= 0 {
		n = 7
	}
	runs, err := r.o.Store.Runs(ctx, r.src, 4*n)
	if err != nil {
		return 0, 0
	}
	var sum float64
	k := 0
	for _, run := range runs {
		if run.Outcome == string(v1alpha1.RunFailed) || run.ID == r.o.RunID {
			continue
		}
		sum += float64(run.Read)
		if k++; k == n {
			break
		}
	}
	if k == 0 {
		return 0, 0
	}
	return sum / float64(k), k
}

func runChecks(all []v1alpha1.Check, action v1alpha1.CheckAction) []v1alpha1.Check {
	var out []v1alpha1.Check
	for _, c := range all {
		a := c.Action
		if a == "" {
			a = v1alpha1.ActionQuarantine
		}
		if a == action {
			out = append(out, c)
		}
	}
	return out
}

// prescan reads the whole input once, counting records and finding the
// newest occurredAt, without touching the store.
func prescan(ctx context.Context, p *pipeline.Pipeline, cfg runconfig.Source, copts connector.Options) (int64, time.Time, error) {
	reader, err := connector.Open(ctx, cfg.Spec.Batch, copts)
	if err != nil {
		return 0, time.Time{}, err
	}
	defer reader.Close()
	var read int64
	var newest time.Time
	for {
		rec, err := reader.Next(ctx)
		if errors.Is(err, io.EOF) {
			return read, newest, nil
		}
		var de *connector.DecodeError
		if errors.As(err, &de) {
			read++
			continue
		}
		if err != nil {
			return 0, time.Time{}, err
		}
		read++
		if at, ok := p.OccurredAt(rec); ok && at.After(newest) {
			newest = at
		}
	}
}

// readBatch reads up to n records; eof reports the end of the input.
func readBatch(ctx context.Context, r connector.Reader, n int) ([]pipeline.Input, bool, error) {
	in := make([]pipeline.Input, 0, min(n, 1024))
	for len(in) < n {
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			return in, true, nil
		}
		var de *connector.DecodeError
		if errors.As(err, &de) {
			in = append(in, pipeline.Input{Undecodable: de})
			continue
		}
		if err != nil {
			return nil, false, err
		}
		in = append(in, pipeline.Input{Record: rec})
	}
	return in, false, nil
}

func newRunID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "run-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func timePtr(t time.Time) *metav1.Time { mt := metav1.NewTime(t); return &mt }

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// SortedChecks returns check names in order, for stable output.
func SortedChecks(m map[string]CheckCount) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
