package workload_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

// The QuarantineReview's Job, run as its pod would run it, on SQLite and
// PostgreSQL: the ingest pod holds a negative invoice, the review pod
// releases it with one ledger entry naming the reviewer, a rerun of the
// Job changes nothing, and what it reports is what the controller reads.
func TestReviewJobReleasesAndReportsToTheController(t *testing.T) {
	for _, backend := range []struct {
		name string
		dsn  func(t *testing.T, root string) string
	}{
		{"sqlite", func(t *testing.T, root string) string { return "sqlite://" + filepath.Join(root, "journey.db") }},
		{"postgres", func(t *testing.T, _ string) string { return pgtest.Start(t) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			root := t.TempDir()
			dsn := backend.dsn(t, root)
			api := billingAPI(t, "sk_live_contract")
			src := &v1alpha1.TouchpointSource{
				ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing-stripe", UID: "uid-1", Generation: 1},
				Spec: v1alpha1.TouchpointSourceSpec{
					Touchpoint: "billing", System: "stripe", Financial: true,
					Compliance: &v1alpha1.Compliance{Reviewers: &v1alpha1.Reviewers{Groups: []string{"finance-controllers"}}},
					Batch: &v1alpha1.BatchSource{Schedule: "*/15 * * * *", HTTP: &v1alpha1.HTTPConnector{
						URL: api.URL + "/v1/events", AuthSecretRef: &v1alpha1.SecretKeyRef{Name: "stripe-api", Key: "token"}, RecordsPath: "data",
						Pagination: &v1alpha1.Pagination{CursorParam: "starting_after", NextCursor: "records[size(records)-1].id", HasMore: "body.has_more"},
					}},
					Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.customer", OccurredAt: "timestamp(int(record.created))",
						Type: "record.type", Amount: "double(record.amount) / 100.0", Currency: `"usd"`},
				},
			}
			rules := []v1alpha1.ValidationRule{{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing-controls"},
				Spec: v1alpha1.ValidationRuleSpec{Checks: []v1alpha1.Check{{Name: "amount-non-negative", Expression: "event.amount >= 0.0", Action: v1alpha1.ActionQuarantine}}}}}
			opts := render.Options{Image: "journey:test", StoreSecret: v1alpha1.SecretKeyRef{Name: "journey-store", Key: "dsn"}}
			secrets := map[string]map[string]string{"stripe-api": {"token": "sk_live_contract"}, "journey-store": {"dsn": dsn}}

			cm, hash, err := render.SourceConfigMap(src, rules)
			if err != nil {
				t.Fatal(err)
			}
			if _, out, err := runPod(t, filepath.Join(root, "ingest"), render.IngestCronJob(src, hash, opts).Spec.JobTemplate.Spec.Template.Spec,
				cm, secrets, "--secrets-dir"); err != nil {
				t.Fatalf("ingest: %v\n%s", err, out)
			}

			rev := &v1alpha1.QuarantineReview{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "credit-notes", UID: "uid-rev"},
				Spec: v1alpha1.QuarantineReviewSpec{Source: "billing-stripe", Decision: v1alpha1.DecisionRelease,
					Reason: "credit notes booked as negative invoices; confirmed with AR (FIN-231)", RequestedBy: "carol@example.com",
					Selection: v1alpha1.QuarantineSelection{Checks: []string{"amount-non-negative"}}}}
			rcm, rhash, err := render.ReviewConfigMap(rev)
			if err != nil {
				t.Fatal(err)
			}
			job := render.ReviewJob(rev, src, rhash, opts)
			run := func(attempt string) runconfig.ReviewReport {
				msg, out, err := runPod(t, filepath.Join(root, attempt), job.Spec.Template.Spec, rcm, secrets, "")
				if err != nil {
					t.Fatalf("review (%s): %v\n%s", attempt, err, out)
				}
				var rep runconfig.ReviewReport
				dec := json.NewDecoder(strings.NewReader(string(msg)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&rep); err != nil {
					t.Fatalf("termination message %q does not decode as the review's status: %v", msg, err)
				}
				if len(msg) > 4096 {
					t.Errorf("termination message of %d bytes; the kubelet keeps 4096", len(msg))
				}
				return rep
			}
			first := run("review-1")
			s := first.QuarantineReviewStatus
			if first.Outcome != "Succeeded" || first.Repeated || s.Matched != 1 || s.Released != 1 || s.AmountReleased != "-0.50" ||
				s.Currency != "usd" || s.Reviewer != "carol@example.com" || !strings.HasPrefix(s.LedgerHash, "sha256:") ||
				s.SourceQuarantine == nil || s.SourceQuarantine.Pending != 0 || s.CompletionTime == nil || s.OldestRecordTime == nil {
				t.Fatalf("first run of the review's Job: %+v", first)
			}
			// The Job's pod runs again (a retry after a lost node): nothing
			// changes, and it reports what the first run did.
			again := run("review-2")
			if !again.Repeated || again.LedgerHash != s.LedgerHash || again.Released != 1 {
				t.Fatalf("second run of the review's Job: %+v", again)
			}

			st, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			if known, _ := st.ExistingEvents(ctx, "media/billing-stripe", []string{"evt_2"}); !known["evt_2"] {
				t.Error("the released invoice is not among the events")
			}
			entries, _ := st.LedgerEntries(ctx, store.LedgerFilter{Kinds: []store.EntryKind{store.EntryReview}})
			if len(entries) != 1 || entries[0].Actor != "carol@example.com" || entries[0].RunID != "media/credit-notes/uid-rev" ||
				!strings.Contains(entries[0].Detail, "FIN-231") || entries[0].Hash != s.LedgerHash {
				t.Fatalf("review entries: %+v", entries)
			}
			if _, err := st.Verify(ctx, store.VerifyOptions{Anchors: []string{s.LedgerHash}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
