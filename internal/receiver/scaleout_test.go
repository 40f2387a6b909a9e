package receiver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/receiver"
	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

// pg is one throwaway PostgreSQL for the test binary; each test that asks
// gets a database of its own.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// twice sends the same request to two servers at once, rounds times, and
// returns every answer.
func twice(t *testing.T, rounds int, a, b *httptest.Server, send func(srv *httptest.Server) (int, string)) []string {
	t.Helper()
	var mu sync.Mutex
	var answers []string
	for range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, srv := range []*httptest.Server{a, b, a, b} {
			wg.Go(func() {
				<-start
				status, text := send(srv)
				if status != http.StatusOK {
					t.Errorf("%d %s", status, text)
				}
				mu.Lock()
				answers = append(answers, text)
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
	}
	return answers
}

// Receivers that scale out: two replicas of a Segment source on one
// PostgreSQL store, the same batch sent to both at once (a client's retry
// racing its first attempt through the Service), stored once.
func TestTwoSegmentReceiversOnePostgreSQL(t *testing.T) {
	dsn := pg.DSN(t)
	src := appSource(v1alpha1.EventMapping{})
	clock := func() time.Time { return now }
	h1, st := segmentReceiver(t, dsn, src, nil, clock)
	h2, _ := segmentReceiver(t, dsn, src, nil, clock)
	a, b := httptest.NewServer(h1), httptest.NewServer(h2)
	defer a.Close()
	defer b.Close()

	const n = 200
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = fmt.Sprintf(`{"type":"track","messageId":"race-%03d","userId":"cus_%06d","event":"Video Playback Started","properties":{"minutes":%d},"timestamp":"2026-11-23T11:58:00Z"}`, i, i%17, i)
	}
	body := batchOf(msgs...)
	answers := twice(t, 3, a, b, func(srv *httptest.Server) (int, string) { return segmentPost(t, srv, "batch", body, basic(writeKey)) })
	var accepted, duplicates int64
	for _, text := range answers {
		var r receiver.SegmentResponse
		if err := json.Unmarshal([]byte(text), &r); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		accepted += r.Accepted
		duplicates += r.Duplicates
	}
	if accepted != n || duplicates != int64(len(answers)-1)*n {
		t.Errorf("accepted %d and counted %d duplicates over %d deliveries of %d messages; want %d and %d",
			accepted, duplicates, len(answers), n, n, (len(answers)-1)*n)
	}
	if got := stored(t, st, "media/app-events"); len(got) != n {
		t.Errorf("stored %d events, want %d", len(got), n)
	}
}

// The same for a signed webhook (Stripe) of a financial source: one event,
// one ledger entry that accepts it, a chain that verifies.
func TestTwoWebhookReceiversOnePostgreSQL(t *testing.T) {
	dsn := pg.DSN(t)
	h1, st := stripeReceiver(t, dsn)
	h2, _ := stripeReceiver(t, dsn)
	a, b := httptest.NewServer(h1), httptest.NewServer(h2)
	defer a.Close()
	defer b.Close()
	body := event("evt_scaled", 1299)
	answers := twice(t, 3, a, b, func(srv *httptest.Server) (int, string) {
		status, _, text := post(t, srv, body, signed(body, current, now))
		return status, text
	})
	if got := strings.Count(strings.Join(answers, "\n"), `"outcome":"accepted"`); got != 1 {
		t.Errorf("%d of %d deliveries answered accepted, want 1: %v", got, len(answers), answers)
	}
	if inLedger, entries := ledgerAccepted(t, st); inLedger != 1 || entries < 1 || entries > len(answers) {
		t.Errorf("the ledger accepted %d events in %d entries, want 1 in 1 to %d (one per commit)", inLedger, entries, len(answers))
	}
	if _, err := st.Verify(context.Background(), store.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	known, err := st.ExistingEvents(context.Background(), "media/stripe-hook", []string{"evt_scaled"})
	if err != nil || !known["evt_scaled"] {
		t.Fatalf("evt_scaled stored: %v, %v", known, err)
	}
}
