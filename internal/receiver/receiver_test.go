package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/receiver"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/store"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const (
	current  = "whsec_current"
	previous = "whsec_previous"
)

func newServer(t *testing.T) (*httptest.Server, store.Store) {
	t.Helper()
	h, st := stripeReceiver(t, sqliteDSN(t))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, st
}

// stripeReceiver serves a financial Stripe webhook source, with a rule that
// quarantines negative amounts, on the store dsn names.
func stripeReceiver(t *testing.T, dsn string) (http.Handler, store.Store) {
	t.Helper()
	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "stripe-hook"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "billing", System: "stripe", Financial: true,
			Webhook: &v1alpha1.WebhookSource{Path: "/stripe", Signature: &v1alpha1.WebhookSignature{
				Scheme: v1alpha1.SignatureStripe, Tolerance: &metav1.Duration{Duration: 5 * time.Minute},
				SecretRefs: []v1alpha1.SecretKeyRef{{Name: "whsec", Key: "current"}, {Name: "whsec", Key: "previous"}},
			}},
			Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.data.object.customer",
				OccurredAt: "timestamp(int(record.created))", Type: "record.type",
				Amount: "double(record.data.object.amount_paid) / 100.0"},
		},
	}
	rule := v1alpha1.ValidationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "controls"},
		Spec: v1alpha1.ValidationRuleSpec{Checks: []v1alpha1.Check{
			{Name: "amount-non-negative", Expression: "event.amount == null || event.amount >= 0.0", Action: v1alpha1.ActionQuarantine}}}}
	secrets := map[string]map[string]string{"media/whsec": {"current": current, "previous": previous}}
	return newReceiver(t, dsn, src, []v1alpha1.ValidationRule{rule}, secrets, func() time.Time { return now })
}

func sqliteDSN(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "j.db") }

// newReceiver is what `journey receive` builds for a source: its pipeline,
// on its own connection to the store, with the Secrets given
// (namespace/name: key: value).
func newReceiver(t *testing.T, dsn string, src *v1alpha1.TouchpointSource, rules []v1alpha1.ValidationRule,
	secrets map[string]map[string]string, clock func() time.Time) (http.Handler, store.Store) {
	t.Helper()
	cfg := render.SourceConfig(src, rules)
	env, _ := expr.NewEnv()
	p, err := pipeline.New(env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	folder := &local.Folder{Secrets: secrets}
	r, err := receiver.New(cfg, "sha256:test", p, st, local.Secrets{Folder: folder, Namespace: src.Namespace}, clock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r.Handler(), st
}

func event(id string, amount int) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"type":"invoice.paid","created":%d,"data":{"object":{"customer":"cus_A","amount_paid":%d}}}`, id, now.Add(-time.Minute).Unix(), amount))
}

func post(t *testing.T, srv *httptest.Server, body []byte, header http.Header) (int, receiver.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/stripe", bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	status, text := do(t, req)
	var out receiver.Response
	_ = json.Unmarshal([]byte(text), &out)
	return status, out, text
}

// do sends a request and returns the status and the body.
func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

// ledgerAccepted is how many events the ledger's entries accepted, and
// how many entries there are.
func ledgerAccepted(t *testing.T, st store.Store) (accepted int64, entries int) {
	t.Helper()
	all, err := st.LedgerEntries(context.Background(), store.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		accepted += e.Accepted
	}
	return accepted, len(all)
}

// signed signs like Stripe does, with stripe-go's own webhook package.
func signed(body []byte, secret string, at time.Time) http.Header {
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	return http.Header{"Stripe-Signature": {p.Header}}
}

func TestStripeDeliveries(t *testing.T) {
	srv, st := newServer(t)
	for _, tc := range []struct {
		name    string
		body    []byte
		header  http.Header
		status  int
		outcome string
	}{
		{"signed with the current secret", event("evt_1", 1000), signed(event("evt_1", 1000), current, now), 200, receiver.OutcomeAccepted},
		{"an exact redelivery", event("evt_1", 1000), signed(event("evt_1", 1000), current, now.Add(time.Minute)), 200, receiver.OutcomeDuplicate},
		{"signed with the rotated-out secret", event("evt_2", 500), signed(event("evt_2", 500), previous, now), 200, receiver.OutcomeAccepted},
		{"a negative amount", event("evt_3", -500), signed(event("evt_3", -500), current, now), 200, receiver.OutcomeQuarantined},
		{"stale (a replay)", event("evt_4", 100), signed(event("evt_4", 100), current, now.Add(-10*time.Minute)), 401, ""},
		{"tampered body", event("evt_5", 99999), signed(event("evt_5", 100), current, now), 401, ""},
		{"wrong secret", event("evt_6", 100), signed(event("evt_6", 100), "whsec_attacker", now), 401, ""},
		{"no signature", event("evt_7", 100), http.Header{}, 400, ""},
		{"malformed signature header", event("evt_8", 100), http.Header{"Stripe-Signature": {"garbage"}}, 400, ""},
		{"not JSON", []byte("hello"), signed([]byte("hello"), current, now), 400, ""},
		{"too large", bytes.Repeat([]byte("x"), receiver.MaxBody+1), http.Header{}, 413, ""},
	} {
		status, resp, text := post(t, srv, tc.body, tc.header)
		if status != tc.status || resp.Outcome != tc.outcome {
			t.Errorf("%s: %d %q (%s), want %d %q", tc.name, status, resp.Outcome, strings.TrimSpace(text), tc.status, tc.outcome)
		}
		if strings.Contains(text, current) || strings.Contains(text, previous) {
			t.Errorf("%s: a secret leaked into the response", tc.name)
		}
	}
	known, err := st.ExistingEvents(context.Background(), "media/stripe-hook", []string{"evt_1", "evt_2", "evt_4", "evt_5", "evt_6"})
	if err != nil {
		t.Fatal(err)
	}
	if !known["evt_1"] || !known["evt_2"] || len(known) != 2 {
		t.Errorf("stored %v, want exactly evt_1 and evt_2", known)
	}
	if rep, err := st.Verify(context.Background(), store.VerifyOptions{}); err != nil || rep.Entries != 4 {
		t.Errorf("ledger %d entries (want one per committed delivery: 4), %v", rep.Entries, err)
	}
	resp, err := http.Get(srv.URL + "/stripe")
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp.StatusCode, err)
	}
}

// The same delivery sent several times at once (a sender's retry racing
// the first attempt): stored once, answered accepted once and duplicate
// otherwise, and counted accepted by exactly one ledger entry.
func TestSimultaneousDeliveries(t *testing.T) {
	srv, st := newServer(t)
	body := event("evt_race", 4200)
	const n = 8
	outcomes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			status, resp, text := post(t, srv, body, signed(body, current, now))
			if status != 200 {
				t.Errorf("delivery %d: %d %s", i, status, text)
			}
			outcomes[i] = resp.Outcome
		})
	}
	wg.Wait()
	accepted := 0
	for _, o := range outcomes {
		if o == receiver.OutcomeAccepted {
			accepted++
		} else if o != receiver.OutcomeDuplicate {
			t.Errorf("outcome %q", o)
		}
	}
	if inLedger, _ := ledgerAccepted(t, st); accepted != 1 || inLedger != 1 {
		t.Fatalf("%d deliveries answered accepted, %d accepted in the ledger; want 1 and 1 (outcomes %v)", accepted, inLedger, outcomes)
	}
	if _, err := st.Verify(context.Background(), store.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}
