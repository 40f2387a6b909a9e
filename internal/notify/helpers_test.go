package notify

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

var t0 = time.Date(2025, 11, 18, 10, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// received is one request a test server got.
type received struct {
	Path   string
	Header http.Header
	Body   []byte
}

// server records requests and answers with the scripted statuses, then 200.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []received
	statuses []int
	body     string // body of non-2xx answers
	header   http.Header
}

func newServer(t *testing.T, statuses ...int) *server {
	t.Helper()
	s := &server{statuses: statuses}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, received{Path: r.URL.Path, Header: r.Header.Clone(), Body: b})
		code := http.StatusOK
		if len(s.statuses) > 0 {
			code, s.statuses = s.statuses[0], s.statuses[1:]
		}
		for k, vs := range s.header {
			w.Header()[k] = vs
		}
		body := s.body
		s.mu.Unlock()
		w.WriteHeader(code)
		if code >= 300 {
			_, _ = io.WriteString(w, body)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.reqs...)
}

// sleeps records the waits between attempts instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// secrets is an in-memory connector.Secrets.
type secrets map[string]string

func (s secrets) Value(ref v1alpha1.SecretKeyRef) (string, error) {
	v, ok := s[ref.Name+"/"+ref.Key]
	if !ok {
		return "", fmt.Errorf("secret %s has no key %s", ref.Name, ref.Key)
	}
	return v, nil
}

// snapshot has a User-scoped alert firing for users and a Journey-scoped
// one firing when journeyFiring.
func snapshot(journeyFiring bool, users ...string) *journey.Snapshot {
	perUser := journey.AlertState{
		Name:        "StreamingDropAfterBillingFailure",
		Scope:       "User",
		Severity:    "warning",
		Labels:      map[string]string{"team": "growth", "alertname": "ignored"},
		Annotations: map[string]string{"summary": "streaming fell by half after a failed payment"},
	}
	for i, u := range users {
		perUser.Instances = append(perUser.Instances, journey.AlertInstance{
			User:     u,
			ActiveAt: t0.Add(-2 * time.Hour),
			FiredAt:  t0.Add(-time.Hour - time.Duration(i)*time.Minute),
		})
	}
	perUser.Firing = int64(len(users))
	whole := journey.AlertState{
		Name:     "TrialConversionLow",
		Scope:    "Journey",
		Severity: "critical",
		Labels:   map[string]string{"user": "must-not-appear"},
	}
	if journeyFiring {
		whole.Firing = 1
		whole.Instances = []journey.AlertInstance{{ActiveAt: t0.Add(-30 * time.Minute), FiredAt: t0.Add(-30 * time.Minute)}}
	}
	return &journey.Snapshot{
		Namespace:   "media",
		Name:        "streaming",
		EvaluatedAt: t0,
		Alerts:      []journey.AlertState{perUser, whole},
	}
}

// fastOptions retry without sleeping, on the test clock.
func fastOptions(c *clock) Options {
	return Options{MaxAttempts: 3, Backoff: 10 * time.Millisecond, AttemptTimeout: 5 * time.Second, Now: c.Now}
}
