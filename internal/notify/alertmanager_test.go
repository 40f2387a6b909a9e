package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

func newTestAlertmanager(t *testing.T, c *clock, ao AlertOptions, statuses ...int) (*Alertmanager, *server, *sleeps) {
	t.Helper()
	srv := newServer(t, statuses...)
	am := NewAlertmanager(v1alpha1.AlertmanagerTarget{URL: srv.URL + "/"}, ao, fastOptions(c))
	sl := &sleeps{}
	am.post.sleep = sl.sleep
	return am, srv, sl
}

// decodeAlerts decodes a request body with Alertmanager's own models and
// validates every alert with them.
func decodeAlerts(t *testing.T, body []byte) map[string]*models.PostableAlert {
	t.Helper()
	var alerts models.PostableAlerts
	if err := json.Unmarshal(body, &alerts); err != nil {
		t.Fatalf("body is not API v2 PostableAlerts: %v", err)
	}
	if err := alerts.Validate(strfmt.Default); err != nil {
		t.Fatalf("payload does not validate against Alertmanager's models: %v", err)
	}
	byKey := map[string]*models.PostableAlert{}
	for _, a := range alerts {
		key := a.Labels["alertname"] + "/" + a.Labels["user"]
		if _, dup := byKey[key]; dup {
			t.Fatalf("alert %s sent twice in one request", key)
		}
		byKey[key] = a
	}
	return byKey
}

func TestAlertmanagerPayload(t *testing.T) {
	c := newClock()
	ao := AlertOptions{ResendInterval: time.Minute, EvaluationInterval: 5 * time.Minute, GeneratorURL: "http://streaming-journey-evaluator.media.svc:8080/"}
	am, srv, _ := newTestAlertmanager(t, c, ao)

	snap := snapshot(true, "cus_1", "cus_2")
	if err := am.Send(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/api/v2/alerts" {
		t.Errorf("path = %q, want /api/v2/alerts", r.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	got := decodeAlerts(t, r.Body)
	if len(got) != 3 {
		t.Fatalf("got %d alerts, want 3 (2 users + 1 journey): %s", len(got), r.Body)
	}
	wantEnds := c.Now().Add(4 * 5 * time.Minute) // 4 × max(resend, evaluation)
	for key, a := range got {
		for _, l := range []string{"alertname", "journey", "namespace", "severity"} {
			if a.Labels[l] == "" {
				t.Errorf("%s: label %s missing: %v", key, l, a.Labels)
			}
		}
		if a.Labels["journey"] != "streaming" || a.Labels["namespace"] != "media" {
			t.Errorf("%s: journey/namespace labels = %v", key, a.Labels)
		}
		if !time.Time(a.EndsAt).Equal(wantEnds) {
			t.Errorf("%s: endsAt = %v, want %v", key, a.EndsAt, wantEnds)
		}
		if a.GeneratorURL.String() != ao.GeneratorURL {
			t.Errorf("%s: generatorURL = %q", key, a.GeneratorURL)
		}
		if err := validatePostable(a); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	u1 := got["StreamingDropAfterBillingFailure/cus_1"]
	if u1 == nil {
		t.Fatalf("no alert for cus_1: %v", got)
	}
	if u1.Labels["user"] != "cus_1" || u1.Labels["team"] != "growth" || u1.Labels["severity"] != "warning" {
		t.Errorf("user alert labels = %v", u1.Labels)
	}
	if u1.Labels["alertname"] != "StreamingDropAfterBillingFailure" {
		t.Errorf("spec label overrode alertname: %v", u1.Labels)
	}
	if u1.Annotations["summary"] == "" {
		t.Errorf("annotations = %v", u1.Annotations)
	}
	if want := snap.Alerts[0].Instances[0].FiredAt; !time.Time(u1.StartsAt).Equal(want) {
		t.Errorf("startsAt = %v, want FiredAt %v", u1.StartsAt, want)
	}
	j := got["TrialConversionLow/"]
	if j == nil {
		t.Fatalf("no journey alert: %v", got)
	}
	if _, ok := j.Labels["user"]; ok {
		t.Errorf("journey-scoped alert has a user label: %v", j.Labels)
	}
	if j.Labels["severity"] != "critical" {
		t.Errorf("journey alert labels = %v", j.Labels)
	}
}

func TestPostableAlertValidation(t *testing.T) {
	ok := &entry{Alert: "A", Labels: map[string]string{"alertname": "A"}, StartsAt: t0}
	if err := validatePostable(postableAlert(ok, t0, AlertOptions{})); err != nil {
		t.Fatalf("valid alert refused: %v", err)
	}
	for name, e := range map[string]*entry{
		"no labels":        {Alert: "A", StartsAt: t0},
		"bad label value":  {Alert: "A", Labels: map[string]string{"alertname": "A", "x": "\xff"}, StartsAt: t0},
		"bad generatorURL": {Alert: "A", Labels: map[string]string{"alertname": "A"}, StartsAt: t0},
	} {
		o := AlertOptions{}
		if name == "bad generatorURL" {
			o.GeneratorURL = "http://[::1"
		}
		if err := validatePostable(postableAlert(e, t0, o)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAlertmanagerInvalidAlertLeftOut(t *testing.T) {
	c := newClock()
	am, srv, _ := newTestAlertmanager(t, c, AlertOptions{})
	snap := snapshot(true, "cus_1")
	snap.Alerts[1].Annotations = map[string]string{"summary": "bad \xff"}
	err := am.Send(context.Background(), snap)
	if err == nil || !strings.Contains(err.Error(), "TrialConversionLow not sent") {
		t.Fatalf("err = %v, want the invalid alert named", err)
	}
	got := decodeAlerts(t, srv.requests()[0].Body)
	if len(got) != 1 || got["StreamingDropAfterBillingFailure/cus_1"] == nil {
		t.Fatalf("the valid alert should still be sent, got %v", got)
	}
}

func TestAlertmanagerResolvesStoppedAlerts(t *testing.T) {
	c := newClock()
	am, srv, _ := newTestAlertmanager(t, c, AlertOptions{ResendInterval: time.Minute})
	ctx := context.Background()
	if err := am.Send(ctx, snapshot(true, "cus_1", "cus_2")); err != nil {
		t.Fatal(err)
	}

	// cus_2 and the journey alert stop firing 10s later.
	c.Add(10 * time.Second)
	stoppedAt := c.Now()
	if err := am.Send(ctx, snapshot(false, "cus_1")); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	got := decodeAlerts(t, reqs[1].Body)
	if len(got) != 2 {
		t.Fatalf("want only the 2 resolved alerts (cus_1 is not due), got %v", keys(got))
	}
	for _, k := range []string{"StreamingDropAfterBillingFailure/cus_2", "TrialConversionLow/"} {
		a := got[k]
		if a == nil {
			t.Fatalf("%s not resolved; got %v", k, keys(got))
		}
		if !time.Time(a.EndsAt).Equal(stoppedAt) {
			t.Errorf("%s: endsAt = %v, want now %v", k, a.EndsAt, stoppedAt)
		}
	}

	// A minute later: cus_1 is resent as firing, the resolved ones resent
	// with their original endsAt.
	c.Add(time.Minute)
	if err := am.Send(ctx, snapshot(false, "cus_1")); err != nil {
		t.Fatal(err)
	}
	got = decodeAlerts(t, srv.requests()[2].Body)
	if len(got) != 3 {
		t.Fatalf("want 3 alerts resent, got %v", keys(got))
	}
	if e := got["StreamingDropAfterBillingFailure/cus_2"].EndsAt; !time.Time(e).Equal(stoppedAt) {
		t.Errorf("resent resolution endsAt = %v, want %v", e, stoppedAt)
	}
	if e := got["StreamingDropAfterBillingFailure/cus_1"].EndsAt; !time.Time(e).After(c.Now()) {
		t.Errorf("firing alert endsAt = %v, want in the future", e)
	}

	// After 15 minutes resolutions are no longer sent, and forgotten.
	c.Add(15 * time.Minute)
	if err := am.Send(ctx, snapshot(false, "cus_1")); err != nil {
		t.Fatal(err)
	}
	got = decodeAlerts(t, srv.requests()[3].Body)
	if len(got) != 1 || got["StreamingDropAfterBillingFailure/cus_1"] == nil {
		t.Fatalf("want only cus_1, got %v", keys(got))
	}
	if n := len(am.export().Alerts); n != 1 {
		t.Errorf("state keeps %d alerts, want 1", n)
	}
}

func TestAlertmanagerFiringAgainIsSentAtOnce(t *testing.T) {
	c := newClock()
	am, srv, _ := newTestAlertmanager(t, c, AlertOptions{})
	ctx := context.Background()
	_ = am.Send(ctx, snapshot(false, "cus_1"))
	c.Add(time.Second)
	_ = am.Send(ctx, snapshot(false)) // resolved
	c.Add(time.Second)
	snap := snapshot(false, "cus_1")
	snap.Alerts[0].Instances[0].FiredAt = c.Now()
	if err := am.Send(ctx, snap); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	a := decodeAlerts(t, reqs[2].Body)["StreamingDropAfterBillingFailure/cus_1"]
	if a == nil || !time.Time(a.StartsAt).Equal(c.Now()) || !time.Time(a.EndsAt).After(c.Now()) {
		t.Fatalf("new episode not sent as firing from its new start: %+v", a)
	}
}

func TestAlertmanagerResendInterval(t *testing.T) {
	c := newClock()
	am, srv, _ := newTestAlertmanager(t, c, AlertOptions{}) // default 1m
	ctx := context.Background()
	snap := snapshot(true, "cus_1")
	steps := []struct {
		after time.Duration
		sends bool
	}{
		{0, true},
		{30 * time.Second, false},
		{29 * time.Second, false},
		{time.Second, true}, // 1m after the first
		{59 * time.Second, false},
		{time.Second, true},
	}
	want := 0
	for i, s := range steps {
		c.Add(s.after)
		if err := am.Send(ctx, snap); err != nil {
			t.Fatal(err)
		}
		if s.sends {
			want++
		}
		reqs := srv.requests()
		if len(reqs) != want {
			t.Fatalf("step %d (+%s): %d requests, want %d", i, s.after, len(reqs), want)
		}
		if s.sends {
			for k, a := range decodeAlerts(t, reqs[len(reqs)-1].Body) {
				if want := c.Now().Add(4 * time.Minute); !time.Time(a.EndsAt).Equal(want) {
					t.Errorf("step %d %s: endsAt = %v, want now+4×resend %v", i, k, a.EndsAt, want)
				}
			}
		}
	}
	// Flush between evaluations resends too.
	c.Add(time.Minute)
	if err := am.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.requests()); n != want+1 {
		t.Fatalf("Flush after the resend interval: %d requests, want %d", n, want+1)
	}
}

func TestAlertmanagerRetriesThenSucceeds(t *testing.T) {
	c := newClock()
	am, srv, sl := newTestAlertmanager(t, c, AlertOptions{}, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	if err := am.Send(context.Background(), snapshot(true)); err != nil {
		t.Fatalf("want success on the third attempt, got %v", err)
	}
	if n := len(srv.requests()); n != 3 {
		t.Fatalf("got %d attempts, want 3", n)
	}
	waits := sl.waits()
	if len(waits) != 2 {
		t.Fatalf("waited %d times, want 2", len(waits))
	}
	for i, w := range waits {
		if ceiling := 10 * time.Millisecond << i; w < 0 || w > ceiling {
			t.Errorf("wait %d = %s, want within [0, %s]", i, w, ceiling)
		}
	}
	// Delivered: not sent again before the resend interval.
	c.Add(time.Second)
	_ = am.Send(context.Background(), snapshot(true))
	if n := len(srv.requests()); n != 3 {
		t.Fatalf("resent too early: %d requests", n)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	c := newClock()
	am, srv, sl := newTestAlertmanager(t, c, AlertOptions{}, http.StatusTooManyRequests)
	srv.header = http.Header{"Retry-After": {"2"}}
	if err := am.Send(context.Background(), snapshot(true)); err != nil {
		t.Fatal(err)
	}
	if w := sl.waits(); len(w) != 1 || w[0] != 2*time.Second {
		t.Fatalf("waits = %v, want [2s]", w)
	}
}

func TestAlertmanagerGivesUp(t *testing.T) {
	c := newClock()
	am, srv, sl := newTestAlertmanager(t, c, AlertOptions{}, 503, 503, 503, 503)
	srv.body = strings.Repeat("overloaded ", 100)
	err := am.Send(context.Background(), snapshot(true))
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want a *DeliveryError", err)
	}
	if de.Attempts != 3 || len(srv.requests()) != 3 || len(sl.waits()) != 2 {
		t.Fatalf("attempts = %d, requests = %d, waits = %d; want 3, 3, 2", de.Attempts, len(srv.requests()), len(sl.waits()))
	}
	if de.StatusCode != 503 || !de.Temporary() || len(de.Body) > maxErrorBody {
		t.Errorf("error = %+v", de)
	}
	msg := err.Error()
	for _, want := range []string{"alertmanager", "/api/v2/alerts", "503 Service Unavailable", "overloaded", "gave up after 3 attempts"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if len(msg) > 600 {
		t.Errorf("error is %d bytes long: the body must be capped", len(msg))
	}
	// Still due: the next Send tries again at once.
	if err := am.Send(context.Background(), snapshot(true)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.requests()); n != 5 {
		t.Fatalf("after a failure the alerts must stay due: %d requests, want 5", n)
	}
}

func TestClientErrorNotRetried(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound} {
		c := newClock()
		am, srv, sl := newTestAlertmanager(t, c, AlertOptions{}, code)
		err := am.Send(context.Background(), snapshot(true))
		var de *DeliveryError
		if !errors.As(err, &de) || de.StatusCode != code || de.Temporary() {
			t.Fatalf("%d: err = %v", code, err)
		}
		if n := len(srv.requests()); n != 1 || len(sl.waits()) != 0 {
			t.Fatalf("%d: retried (%d requests)", code, n)
		}
		if strings.Contains(err.Error(), "gave up") {
			t.Errorf("%d: %q", code, err)
		}
	}
}

func TestNetworkErrorRetriedAndContextHonoured(t *testing.T) {
	c := newClock()
	srv := newServer(t)
	url := srv.URL
	srv.Close() // connection refused from now on
	am := NewAlertmanager(v1alpha1.AlertmanagerTarget{URL: url}, AlertOptions{}, fastOptions(c))
	sl := &sleeps{}
	am.post.sleep = sl.sleep
	err := am.Send(context.Background(), snapshot(true))
	var de *DeliveryError
	if !errors.As(err, &de) || de.Attempts != 3 || de.StatusCode != 0 || de.Err == nil {
		t.Fatalf("err = %v", err)
	}

	// A cancelled context stops the retries at once.
	ctx, cancel := context.WithCancel(context.Background())
	am.post.sleep = func(ctx context.Context, d time.Duration) error { cancel(); return sleepCtx(ctx, d) }
	err = am.Send(ctx, snapshot(true))
	if !errors.Is(err, context.Canceled) || !errors.As(err, &de) || de.Attempts != 1 {
		t.Fatalf("err = %v, want context.Canceled after 1 attempt", err)
	}
}

func TestAlertmanagerStateRoundTrip(t *testing.T) {
	c := newClock()
	am, srv, _ := newTestAlertmanager(t, c, AlertOptions{})
	ctx := context.Background()
	if err := am.Send(ctx, snapshot(true, "cus_1", "cus_2")); err != nil {
		t.Fatal(err)
	}
	state, err := am.Export()
	if err != nil {
		t.Fatal(err)
	}

	// Restart: a new sender with the stored state.
	c.Add(20 * time.Second)
	restarted := NewAlertmanager(v1alpha1.AlertmanagerTarget{URL: srv.URL}, AlertOptions{}, fastOptions(c))
	if err := restarted.Import(state); err != nil {
		t.Fatal(err)
	}
	// Still firing and sent 20s ago: nothing to send (no duplicate).
	if err := restarted.Send(ctx, snapshot(true, "cus_1", "cus_2")); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Fatalf("restart re-sent alerts within the resend interval: %d requests", n)
	}
	state, _ = restarted.Export()

	// Restart again; meanwhile everything stopped firing.
	c.Add(5 * time.Second)
	again := NewAlertmanager(v1alpha1.AlertmanagerTarget{URL: srv.URL}, AlertOptions{}, fastOptions(c))
	if err := again.Import(state); err != nil {
		t.Fatal(err)
	}
	if err := again.Send(ctx, &journey.Snapshot{Namespace: "media", Name: "streaming"}); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	got := decodeAlerts(t, reqs[1].Body)
	if len(got) != 3 {
		t.Fatalf("want the 3 alerts that were firing before the restart resolved, got %v", keys(got))
	}
	for k, a := range got {
		if !time.Time(a.EndsAt).Equal(c.Now()) {
			t.Errorf("%s: endsAt = %v, want now", k, a.EndsAt)
		}
		if a.Labels["journey"] != "streaming" || a.Labels["namespace"] != "media" {
			t.Errorf("%s: labels lost in the round trip: %v", k, a.Labels)
		}
		if a.Annotations == nil && strings.HasPrefix(k, "Streaming") {
			t.Errorf("%s: annotations lost in the round trip", k)
		}
	}
}

func TestImportRefusesBadState(t *testing.T) {
	am := NewAlertmanager(v1alpha1.AlertmanagerTarget{URL: "http://am:9093"}, AlertOptions{}, Options{})
	for _, s := range []string{`{`, `{"version":2,"alerts":[]}`, `{"version":1,"alerts":[{"alert":"A"}]}`} {
		if err := am.Import([]byte(s)); err == nil {
			t.Errorf("Import(%s) accepted", s)
		}
	}
	if err := am.Import(nil); err != nil {
		t.Errorf("empty state: %v", err)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAlertmanagerBatches(t *testing.T) {
	c := newClock()
	am, srv, _ := newTestAlertmanager(t, c, AlertOptions{})
	users := make([]string, maxBatch+10)
	for i := range users {
		users[i] = "cus_" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()
	}
	if err := am.Send(context.Background(), snapshot(false, users...)); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	if n := len(decodeAlerts(t, reqs[0].Body)) + len(decodeAlerts(t, reqs[1].Body)); n != len(users) {
		t.Fatalf("sent %d alerts, want %d", n, len(users))
	}
}

func TestAttemptTimeout(t *testing.T) {
	c := newClock()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client leaving
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	o := fastOptions(c)
	o.AttemptTimeout = 5 * time.Millisecond
	am := NewAlertmanager(v1alpha1.AlertmanagerTarget{URL: srv.URL}, AlertOptions{}, o)
	am.post.sleep = (&sleeps{}).sleep
	err := am.Send(context.Background(), snapshot(true))
	var de *DeliveryError
	if !errors.As(err, &de) || de.Attempts != 3 || !strings.Contains(err.Error(), "no response within 5ms") {
		t.Fatalf("err = %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := t0
	for v, want := range map[string]time.Duration{
		"":     0,
		"soon": 0,
		"-1":   0,
		"3":    3 * time.Second,
		"3600": maxWait,
		now.Add(10 * time.Second).Format(http.TimeFormat): 10 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}
