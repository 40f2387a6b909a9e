// Package review is `journey review`: release or discard quarantined
// records of one source, in one transaction with one ledger entry naming
// the reviewer, the reason, the counts and the amounts.
//
// In a cluster it runs as a QuarantineReview's Job (--config), with the
// reviewer the API server recorded at admission; locally (--source) the
// reviewer is self-declared (--as) and recorded as such.
package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/cmdflag"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// ErrReviewFailed makes the process exit non-zero, so the Job records it.
var ErrReviewFailed = errors.New("the review failed")

// Run parses args and applies one review.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("review", flag.ContinueOnError)
	config := fs.String("config", "", "a QuarantineReview's configuration, as its Job mounts it ("+runconfig.Path()+")")
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv)
	termLog := fs.String("termination-log", "/dev/termination-log", "file the result is written to for the controller; skipped if absent")
	source := fs.String("source", "", "locally: the source, as namespace/name")
	decision := fs.String("decision", "", "locally: Release or Discard")
	reason := fs.String("reason", "", "locally: why, at least 10 characters (recorded in the ledger)")
	as := fs.String("as", "", "locally: who you are (recorded in the ledger as self-declared)")
	id := fs.String("id", "", "locally: the review's ID; default: derived from the review, so that running it again changes nothing")
	var runs, checks, events cmdflag.List
	fs.Var(&runs, "run-id", "locally: select records held by this run; repeatable")
	fs.Var(&checks, "check", "locally: select records held by this check; repeatable")
	fs.Var(&events, "event-id", "locally: select records of this event ID; repeatable")
	from := fs.String("from", "", "locally: select records held at or after this time")
	to := fs.String("to", "", "locally: select records held before this time")
	output := fs.String("output", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("--output %q: want text or json", *output)
	}
	var req store.ReviewRequest
	var err error
	if *config != "" {
		if *source != "" || *decision != "" || *as != "" {
			return errors.New("--config reads the review from its QuarantineReview: drop --source, --decision and --as")
		}
		req, err = fromConfig(*config)
	} else {
		req, err = fromFlags(*source, *decision, *reason, *as, *id, runs, checks, events, *from, *to)
	}
	if err != nil {
		return writeReport(stdout, *termLog, *output, failed(err))
	}
	if *dsn == "" {
		return writeReport(stdout, *termLog, *output, failed(fmt.Errorf("no store: pass --store or set %s", runconfig.StoreDSNEnv)))
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return writeReport(stdout, *termLog, *output, failed(err))
	}
	defer st.Close()
	// Once begun, a decision commits whatever becomes of the process's
	// context: the store's transaction decides, not a signal.
	res, err := st.Review(context.WithoutCancel(ctx), req)
	if err != nil {
		return writeReport(stdout, *termLog, *output, failed(err))
	}
	rep := runconfig.ReviewReport{Outcome: "Succeeded", Repeated: res.Repeated}
	s := &rep.QuarantineReviewStatus
	s.Matched, s.Released, s.Discarded, s.Duplicates, s.Unreleasable = res.Matched, res.Released, res.Discarded, res.Duplicates, res.Unreleasable
	s.AmountReleased, s.AmountDiscarded, s.Currency = res.AmountReleased, res.AmountDiscarded, res.Currency
	s.Reviewer, s.LedgerHash = req.Reviewer, res.LedgerHash
	at := metav1.NewTime(res.At)
	s.CompletionTime = &at
	if !res.OldestHeld.IsZero() {
		oldest := metav1.NewTime(res.OldestHeld)
		s.OldestRecordTime = &oldest
	}
	if p, err := st.Pending(ctx, []string{req.Source}); err == nil {
		s.SourceQuarantine = ingest.QuarantineStatus(p[req.Source], time.Now())
	}
	return writeReport(stdout, *termLog, *output, rep)
}

func failed(err error) runconfig.ReviewReport {
	return runconfig.ReviewReport{Outcome: "Failed", Message: err.Error()}
}

// fromConfig reads a QuarantineReview's configuration: the reviewer is the
// one the API server recorded at admission.
func fromConfig(path string) (store.ReviewRequest, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return store.ReviewRequest{}, fmt.Errorf("reading the review's configuration: %w", err)
	}
	var cfg runconfig.Review
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return store.ReviewRequest{}, fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Spec.RequestedBy == "" {
		return store.ReviewRequest{}, fmt.Errorf("QuarantineReview %s/%s names no requester: it was not admitted through the operator's webhook", cfg.Namespace, cfg.Name)
	}
	sel := cfg.Spec.Selection
	req := store.ReviewRequest{
		ID: cfg.ReviewID(), Source: cfg.Namespace + "/" + cfg.Spec.Source, Decision: string(cfg.Spec.Decision),
		Reviewer: cfg.Spec.RequestedBy, Reason: cfg.Spec.Reason, Identified: "admission", Object: cfg.Namespace + "/" + cfg.Name,
		Selection: store.ReviewSelection{RunIDs: sel.RunIDs, Checks: sel.Checks, EventIDs: sel.EventIDs},
	}
	if sel.From != nil {
		req.Selection.From = sel.From.Time
	}
	if sel.To != nil {
		req.Selection.To = sel.To.Time
	}
	return req, nil
}

// fromFlags is a local review: the reviewer declares who they are.
func fromFlags(source, decision, reason, as, id string, runs, checks, events []string, from, to string) (store.ReviewRequest, error) {
	switch {
	case source == "":
		return store.ReviewRequest{}, errors.New("--source is required (namespace/name), or --config for a QuarantineReview's Job")
	case !strings.Contains(source, "/"):
		return store.ReviewRequest{}, fmt.Errorf("--source %q: name it as namespace/name, e.g. default/billing-stripe", source)
	case decision != string(v1alpha1.DecisionRelease) && decision != string(v1alpha1.DecisionDiscard):
		return store.ReviewRequest{}, fmt.Errorf("--decision %q: want Release or Discard", decision)
	case as == "":
		return store.ReviewRequest{}, errors.New("--as is required: who decides is recorded in the ledger")
	}
	req := store.ReviewRequest{Source: source, Decision: decision, Reviewer: as, Reason: reason, Identified: "self-declared",
		Selection: store.ReviewSelection{RunIDs: runs, Checks: checks, EventIDs: events}}
	var err error
	if req.Selection.From, err = cmdflag.Time("--from", from); err != nil {
		return req, err
	}
	if req.Selection.To, err = cmdflag.Time("--to", to); err != nil {
		return req, err
	}
	req.ID = id
	if req.ID == "" {
		sel, _ := json.Marshal(req.Selection)
		sum := sha256.Sum256([]byte(strings.Join([]string{source, decision, as, reason, string(sel)}, "\x1f")))
		req.ID = "local/" + hex.EncodeToString(sum[:8])
	}
	return req, nil
}

func writeReport(stdout io.Writer, termLog, output string, rep runconfig.ReviewReport) error {
	out, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if _, serr := os.Stat(termLog); serr == nil {
		if werr := os.WriteFile(termLog, out, 0o644); werr != nil {
			fmt.Fprintf(os.Stderr, "writing %s: %v\n", termLog, werr)
		}
	}
	if output == "json" {
		fmt.Fprintln(stdout, string(out))
	} else {
		printText(stdout, rep)
	}
	if rep.Outcome != "Succeeded" {
		fmt.Fprintln(os.Stderr, "journey review:", rep.Message)
		return ErrReviewFailed
	}
	return nil
}

func printText(w io.Writer, rep runconfig.ReviewReport) {
	if rep.Outcome != "Succeeded" {
		fmt.Fprintf(w, "review failed: %s\n", rep.Message)
		return
	}
	s := rep.QuarantineReviewStatus
	if rep.Repeated {
		fmt.Fprintln(w, "this review was applied before: nothing changed; what it did then:")
	}
	fmt.Fprintf(w, "matched %d pending records: released %d", s.Matched, s.Released)
	if s.Duplicates > 0 {
		fmt.Fprintf(w, " (and %d whose event was stored already)", s.Duplicates)
	}
	fmt.Fprintf(w, ", discarded %d", s.Discarded)
	if s.Unreleasable > 0 {
		fmt.Fprintf(w, "; %d never became events and stay pending (discard them, or correct them at their source)", s.Unreleasable)
	}
	fmt.Fprintln(w)
	if s.AmountReleased != "" {
		fmt.Fprintf(w, "amount released: %s\n", strings.TrimSpace(s.AmountReleased+" "+s.Currency))
	}
	if s.AmountDiscarded != "" {
		fmt.Fprintf(w, "amount discarded: %s\n", strings.TrimSpace(s.AmountDiscarded+" "+s.Currency))
	}
	fmt.Fprintf(w, "reviewer %s; ledger entry %s\n", s.Reviewer, s.LedgerHash)
	if q := s.SourceQuarantine; q != nil {
		fmt.Fprintf(w, "the source still holds %d records for review\n", q.Pending)
	}
}
