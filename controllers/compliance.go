package controllers

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/conditions"
)

// Reasons of AuditCompliant.
const (
	ReasonAuditCompliant = "Compliant"
	ReasonNoRunYet       = "NoRunYet"
	ReasonLedgerMissing  = "LedgerMissing"
	ReasonLedgerBroken   = "LedgerBroken"
	ReasonUnbalanced     = "Unbalanced"
	ReasonReviewOverdue  = "ReviewOverdue"
	ReasonNoReviewers    = "NoReviewers"
)

// DefaultReviewWithin is how long a record may wait for review when a
// source does not say.
const DefaultReviewWithin = 72 * time.Hour

// newerQuarantine keeps the newer of the source's quarantine status and a
// report's: runs and reviews each report what the source held after them.
func newerQuarantine(src *v1alpha1.TouchpointSource, q *v1alpha1.QuarantineStatus) {
	if q == nil || q.AsOf == nil {
		return
	}
	cur := src.Status.Quarantine
	if cur == nil || cur.AsOf == nil || cur.AsOf.Before(q.AsOf) {
		src.Status.Quarantine = q.DeepCopy()
	}
}

// foldReviews takes what completed reviews of the source left pending.
func (r *TouchpointSourceReconciler) foldReviews(ctx context.Context, src *v1alpha1.TouchpointSource) error {
	if !src.Spec.Financial {
		src.Status.Quarantine = nil
		return nil
	}
	var reviews v1alpha1.QuarantineReviewList
	if err := r.Client.List(ctx, &reviews, client.InNamespace(src.Namespace)); err != nil {
		return failedf(ReasonReadFailed, err, "listing QuarantineReviews")
	}
	for _, rev := range reviews.Items {
		if rev.Spec.Source == src.Name && rev.Status.CompletionTime != nil {
			newerQuarantine(src, rev.Status.SourceQuarantine)
		}
	}
	return nil
}

// markAudit sets AuditCompliant on a financial source: True when the last
// run's ledger entry was written and the chain verified, the run balanced
// in records and amounts, and no record waits for review longer than
// reviewWithin. It returns how soon the oldest pending record becomes
// overdue (0: not applicable), so the source is looked at again then.
func (r *TouchpointSourceReconciler) markAudit(src *v1alpha1.TouchpointSource, now time.Time) time.Duration {
	if !src.Spec.Financial {
		conditions.Remove(src, v1alpha1.ConditionAuditCompliant)
		return 0
	}
	set := func(status metav1.ConditionStatus, reason, format string, args ...any) {
		conditions.Set(src, v1alpha1.ConditionAuditCompliant, status, reason, format, args...)
	}
	within := DefaultReviewWithin
	if c := src.Spec.Compliance; c != nil && c.ReviewWithin != nil {
		within = c.ReviewWithin.Duration
	}
	var overdueIn time.Duration
	last := src.Status.LastRun
	q := src.Status.Quarantine
	switch {
	case last != nil && last.LedgerProblem != "":
		set(metav1.ConditionFalse, ReasonLedgerBroken, "after run %s the audit ledger did not verify: %s; run `journey audit verify` against the store", last.ID, last.LedgerProblem)
	case last != nil && last.LedgerHash == "" && last.Outcome != v1alpha1.RunFailed:
		set(metav1.ConditionFalse, ReasonLedgerMissing, "run %s wrote no audit ledger entry: %s", last.ID, last.Message)
	case last != nil && unbalanced(last) != "":
		set(metav1.ConditionFalse, ReasonUnbalanced, "run %s does not balance: %s", last.ID, unbalanced(last))
	case q != nil && q.Pending > 0 && reviewers(src) == 0:
		set(metav1.ConditionFalse, ReasonNoReviewers, "%d records pending review and nobody may review them: set spec.compliance.reviewers.groups", q.Pending)
	case q != nil && q.Pending > 0 && q.OldestPendingTime != nil && now.Sub(q.OldestPendingTime.Time) > within:
		set(metav1.ConditionFalse, ReasonReviewOverdue, "%d %s pending for more than %s, oldest %s%s", q.Pending, plural(q.Pending, "record", "records"),
			within, age(now.Sub(q.OldestPendingTime.Time)), byCheck(q))
	case last == nil:
		set(metav1.ConditionUnknown, ReasonNoRunYet, "no run has written the audit ledger yet")
	default:
		msg := fmt.Sprintf("run %s is in the audit ledger (%s) and balances", last.ID, last.LedgerHash)
		if q != nil && q.Pending > 0 {
			msg += fmt.Sprintf("; %d %s pending review, oldest %s (due within %s)", q.Pending, plural(q.Pending, "record", "records"),
				age(now.Sub(q.OldestPendingTime.Time)), within)
		}
		set(metav1.ConditionTrue, ReasonAuditCompliant, "%s", msg)
	}
	if q != nil && q.Pending > 0 && q.OldestPendingTime != nil {
		if due := q.OldestPendingTime.Add(within).Sub(now); due > 0 {
			overdueIn = due + time.Second
		}
	}
	return overdueIn
}

func reviewers(src *v1alpha1.TouchpointSource) int {
	if c := src.Spec.Compliance; c != nil && c.Reviewers != nil {
		return len(c.Reviewers.Groups)
	}
	return 0
}

// unbalanced says how a run's records or amounts fail read = accepted +
// duplicates + quarantined + rejected; "" when they balance.
func unbalanced(run *v1alpha1.RunSummary) string {
	if run.Outcome == v1alpha1.RunFailed {
		return ""
	}
	if sum := run.Accepted + run.Duplicates + run.Quarantined + run.Rejected; sum != run.Read {
		return fmt.Sprintf("read %d records, but accepted %d + duplicates %d + quarantined %d + rejected %d = %d",
			run.Read, run.Accepted, run.Duplicates, run.Quarantined, run.Rejected, sum)
	}
	if run.AmountTotal == "" || run.AmountDuplicates == "" && run.AmountQuarantined == "" && run.AmountRejected == "" {
		return "" // no amounts, or a summary from before amounts were broken down
	}
	read, ok := new(big.Rat).SetString(run.AmountTotal)
	if !ok {
		return fmt.Sprintf("amountTotal %q is not a number", run.AmountTotal)
	}
	sum := new(big.Rat)
	for _, a := range []string{run.AmountLoaded, run.AmountDuplicates, run.AmountQuarantined, run.AmountRejected} {
		if a == "" {
			continue
		}
		v, ok := new(big.Rat).SetString(a)
		if !ok {
			return fmt.Sprintf("amount %q is not a number", a)
		}
		sum.Add(sum, v)
	}
	if read.Cmp(sum) != 0 {
		return fmt.Sprintf("read amounts of %s, but loaded %s + duplicates %s + quarantined %s + rejected %s = %s",
			run.AmountTotal, run.AmountLoaded, run.AmountDuplicates, run.AmountQuarantined, run.AmountRejected, sum.FloatString(2))
	}
	return ""
}

func byCheck(q *v1alpha1.QuarantineStatus) string {
	if len(q.ByCheck) == 0 {
		return ""
	}
	var parts []string
	for _, c := range q.ByCheck {
		parts = append(parts, fmt.Sprintf("%s %d", c.Check, c.Pending))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// age writes a duration as people read a wait: 5d, 7h, 12m.
func age(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
