package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

func TestTrigger(t *testing.T) {
	c := newClock()
	srv := newServer(t, http.StatusBadGateway)
	o := fastOptions(c)
	o.Secrets = secrets{"surveys/token": testToken}
	f := NewFeedback(o)
	f.post.sleep = (&sleeps{}).sleep
	trig := v1alpha1.FeedbackTrigger{
		Name:    "exit-survey",
		OnEnter: "Churned",
		Webhook: v1alpha1.WebhookTarget{URL: srv.URL + "/trigger", SecretRef: &v1alpha1.SecretKeyRef{Name: "surveys", Key: "token"}},
	}
	at := time.Date(2025, 11, 18, 11, 0, 0, 0, time.FixedZone("CET", 3600))
	if err := f.Trigger(context.Background(), trig, "cus_1", "Churned", "streaming", at); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2 (502 then 200)", len(reqs))
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"user": "cus_1", "stage": "Churned", "journey": "streaming", "trigger": "exit-survey", "time": "2025-11-18T10:00:00Z"}
	if len(body) != len(want) {
		t.Errorf("body = %v, want exactly %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
	}
	if k0, k1 := reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"); k0 == "" || k0 != k1 {
		t.Errorf("Idempotency-Key %q then %q: want the same on every attempt", k0, k1)
	}

	// Without a secretRef, no Authorization header; a 4xx is final.
	srv2 := newServer(t, http.StatusUnprocessableEntity)
	trig.Webhook = v1alpha1.WebhookTarget{URL: srv2.URL}
	err := f.Trigger(context.Background(), trig, "cus_1", "Churned", "streaming", at)
	var de *DeliveryError
	if !errors.As(err, &de) || de.Target != "feedback trigger exit-survey" || de.StatusCode != 422 {
		t.Fatalf("err = %v", err)
	}
	if r := srv2.requests(); len(r) != 1 || r[0].Header.Get("Authorization") != "" {
		t.Fatalf("requests = %+v", r)
	}
	if err := f.Trigger(context.Background(), trig, "", "Churned", "streaming", at); err == nil {
		t.Error("empty user accepted")
	}
}

func TestCooldown(t *testing.T) {
	once := v1alpha1.FeedbackTrigger{Name: "exit-survey"}
	monthly := v1alpha1.FeedbackTrigger{Name: "nps", Cooldown: &metav1.Duration{Duration: 720 * time.Hour}}
	cd := NewCooldown()

	// Once per user without a cooldown.
	if !cd.Allow(once, "u1", t0) {
		t.Fatal("first survey refused")
	}
	cd.Record(once.Name, "u1", t0)
	if cd.Allow(once, "u1", t0.Add(10*365*24*time.Hour)) {
		t.Error("once-per-user trigger allowed a second survey")
	}
	if !cd.Allow(once, "u2", t0) {
		t.Error("another user refused")
	}
	if !cd.Allow(monthly, "u1", t0) {
		t.Error("triggers share state")
	}

	// Again after the cooldown.
	cd.Record(monthly.Name, "u1", t0)
	if cd.Allow(monthly, "u1", t0.Add(719*time.Hour)) {
		t.Error("allowed within the cooldown")
	}
	if !cd.Allow(monthly, "u1", t0.Add(720*time.Hour)) {
		t.Error("refused once the cooldown passed")
	}
	cd.Record(monthly.Name, "u1", t0.Add(-time.Hour)) // older: ignored
	if cd.Allow(monthly, "u1", t0.Add(719*time.Hour)) {
		t.Error("an older Record moved the last survey back")
	}

	// Restored state is respected.
	state, err := cd.Export()
	if err != nil {
		t.Fatal(err)
	}
	restored := NewCooldown()
	if err := restored.Import(state); err != nil {
		t.Fatal(err)
	}
	if restored.Allow(once, "u1", t0.Add(time.Hour)) || restored.Allow(monthly, "u1", t0.Add(time.Hour)) {
		t.Error("restored state forgot a survey")
	}
	if !restored.Allow(monthly, "u1", t0.Add(720*time.Hour)) || !restored.Allow(once, "u2", t0) {
		t.Error("restored state refuses what it should allow")
	}

	// Prune drops elapsed cooldowns and removed triggers, keeps once-per-user.
	restored.Record("removed", "u9", t0)
	if n := restored.Prune([]v1alpha1.FeedbackTrigger{once, monthly}, t0.Add(721*time.Hour)); n != 2 {
		t.Errorf("pruned %d, want 2", n)
	}
	if restored.Allow(once, "u1", t0.Add(721*time.Hour)) {
		t.Error("prune forgot a once-per-user survey")
	}

	for _, bad := range []string{`{`, `{"version":7}`} {
		if err := NewCooldown().Import([]byte(bad)); err == nil {
			t.Errorf("Import(%s) accepted", bad)
		}
	}
}
