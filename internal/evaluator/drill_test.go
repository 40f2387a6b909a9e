package evaluator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cjm-dev/journey-operator/internal/drill"
	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// The evaluator serves the drill-down beside the page: 503 before its
// first evaluation; after new events, what it answers for the users they
// changed (stage, segments, revenue) equals what a fresh evaluator reads
// from every event.
func TestDrillDownFollowsNewEvents(t *testing.T) {
	ctx := context.Background()
	smp := newSample(t)
	asOf, st := smp.asOf, smp.store
	cfg := withoutPrediction(render.JourneyConfig(&smp.journey, smp.sources))
	env, _ := expr.NewEnv()
	reg := prometheus.NewRegistry()
	ev, err := evaluator.New(env, cfg, st, nil, reg, func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ev.Handler(reg))
	defer srv.Close()
	if code, body := get(t, srv.URL+"/api/v1/journey"); code != http.StatusServiceUnavailable {
		t.Errorf("before the first evaluation: %d %s, want 503", code, body)
	}
	if _, err := ev.Once(ctx); err != nil {
		t.Fatal(err)
	}
	var before drill.StageView
	decode(t, srv.URL+"/api/v1/stages/Engaged?limit=1", &before)
	user := before.Page.Users[0].ID

	// The user moves to a new device and pays again at a new price.
	amount := 42.5
	late := asOf.Add(-time.Minute)
	for src, e := range map[string]store.Event{
		"default/playback-sessions": {EventID: "ses_drill", Touchpoint: "playback", Type: "playback.session",
			Attributes: map[string]any{"minutes": 30.0, "device": "test_tv"}},
		"default/billing-stripe": {EventID: "evt_drill", Touchpoint: "billing", Type: "invoice.paid", Amount: &amount, Currency: "usd",
			Attributes: map[string]any{"plan": "price_test_usd"}},
	} {
		e.Source, e.Namespace, e.UserID, e.System, e.OccurredAt, e.RunID = src, "default", user, "test", late, "drill"
		if _, err := st.Commit(ctx, store.Batch{Source: src, Events: []store.Event{e}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ev.Once(ctx); err != nil {
		t.Fatal(err)
	}
	var u drill.UserView
	decode(t, srv.URL+"/api/v1/users/"+user, &u)
	if u.Segments["device"] != "test_tv" || u.Segments["plan"] != "price_test_usd" || u.Revenue == nil || u.Revenue.Amount != amount {
		t.Errorf("user %s after new events: segments %v, revenue %+v", user, u.Segments, u.Revenue)
	}

	cfg.Name += "-fresh"
	fresh, err := evaluator.New(env, cfg, st, nil, prometheus.NewRegistry(), func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Once(ctx); err != nil {
		t.Fatal(err)
	}
	freshSrv := httptest.NewServer(fresh.Handler(prometheus.NewRegistry()))
	defer freshSrv.Close()
	for _, path := range []string{"/api/v1/journey", "/api/v1/revenue", "/api/v1/journey?segment=device%3Dtest_tv", "/api/v1/stages/Engaged?limit=500"} {
		var inc, full any
		decode(t, srv.URL+path, &inc)
		decode(t, freshSrv.URL+path, &full)
		if !reflect.DeepEqual(inc, full) {
			t.Errorf("%s: after new events\n%v\nfrom every event\n%v", path, inc, full)
		}
	}
}

func decode(t *testing.T, url string, v any) {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatal(err)
	}
}
