package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

const testToken = "s3cr3t-token"

func newTestWebhook(t *testing.T, c *clock, statuses ...int) (*Webhook, *server) {
	t.Helper()
	srv := newServer(t, statuses...)
	o := fastOptions(c)
	o.Secrets = secrets{"hook/token": testToken + "\n"}
	w := NewWebhook(v1alpha1.WebhookTarget{URL: srv.URL + "/journey", SecretRef: &v1alpha1.SecretKeyRef{Name: "hook", Key: "token"}}, o)
	w.post.sleep = (&sleeps{}).sleep
	return w, srv
}

func decodeWebhook(t *testing.T, body []byte) (WebhookPayload, map[string]WebhookAlert) {
	t.Helper()
	var p WebhookPayload
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("webhook body does not match WebhookPayload: %v: %s", err, body)
	}
	byKey := map[string]WebhookAlert{}
	for _, a := range p.Alerts {
		byKey[a.Name+"/"+a.User] = a
	}
	return p, byKey
}

func TestWebhookPayloadAndToken(t *testing.T) {
	c := newClock()
	w, srv := newTestWebhook(t, c)
	ctx := context.Background()
	if err := w.Send(ctx, snapshot(true, "cus_1")); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("Authorization = %q, want the trimmed Secret value as Bearer", got)
	}
	if reqs[0].Path != "/journey" {
		t.Errorf("path = %q", reqs[0].Path)
	}
	p, got := decodeWebhook(t, reqs[0].Body)
	if p.Version != "1" || p.Journey != "streaming" || p.Namespace != "media" || !p.SentAt.Equal(c.Now()) {
		t.Errorf("envelope = %+v", p)
	}
	u := got["StreamingDropAfterBillingFailure/cus_1"]
	if u.Status != StatusFiring || u.Scope != "User" || u.Severity != "warning" || u.Labels["user"] != "cus_1" ||
		u.Annotations["summary"] == "" || !u.StartsAt.Equal(t0.Add(-time.Hour)) || !u.EndsAt.IsZero() {
		t.Errorf("user alert = %+v", u)
	}
	j := got["TrialConversionLow/"]
	if j.Status != StatusFiring || j.Scope != "Journey" || j.User != "" {
		t.Errorf("journey alert = %+v", j)
	}

	// Unchanged: nothing new to say.
	c.Add(10 * time.Minute)
	if err := w.Send(ctx, snapshot(true, "cus_1")); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Fatalf("webhook re-sent unchanged alerts: %d requests", n)
	}

	// cus_1 resolved, cus_2 firing: one document with both changes.
	c.Add(time.Minute)
	if err := w.Send(ctx, snapshot(true, "cus_2")); err != nil {
		t.Fatal(err)
	}
	reqs = srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	_, got = decodeWebhook(t, reqs[1].Body)
	if len(got) != 2 {
		t.Fatalf("want 2 changes, got %v", keys(got))
	}
	if r := got["StreamingDropAfterBillingFailure/cus_1"]; r.Status != StatusResolved || !r.EndsAt.Equal(c.Now()) {
		t.Errorf("resolved = %+v", r)
	}
	if f := got["StreamingDropAfterBillingFailure/cus_2"]; f.Status != StatusFiring {
		t.Errorf("firing = %+v", f)
	}
	// The delivered resolution is forgotten.
	if n := len(w.export().Alerts); n != 2 {
		t.Errorf("state keeps %d alerts, want 2", n)
	}
}

func TestWebhookSecretProblems(t *testing.T) {
	c := newClock()
	srv := newServer(t)
	ref := &v1alpha1.SecretKeyRef{Name: "hook", Key: "token"}
	for name, s := range map[string]secrets{"missing": {}, "empty": {"hook/token": " \n"}} {
		o := fastOptions(c)
		o.Secrets = s
		w := NewWebhook(v1alpha1.WebhookTarget{URL: srv.URL, SecretRef: ref}, o)
		err := w.Send(context.Background(), snapshot(true))
		if err == nil || !strings.Contains(err.Error(), "hook/token") {
			t.Errorf("%s: err = %v, want the secretRef named", name, err)
		}
	}
	w := NewWebhook(v1alpha1.WebhookTarget{URL: srv.URL, SecretRef: ref}, fastOptions(c))
	if err := w.Send(context.Background(), snapshot(true)); err == nil {
		t.Error("no Secrets resolver: accepted")
	}
	if n := len(srv.requests()); n != 0 {
		t.Fatalf("sent %d requests without the token", n)
	}
}

func TestWebhookErrorsHideSecrets(t *testing.T) {
	c := newClock()
	w, srv := newTestWebhook(t, c, http.StatusUnauthorized)
	srv.body = "token rejected"
	w.target.URL = strings.Replace(srv.URL, "http://", "http://user:pa55@", 1) + "/journey?apikey=k3y"
	err := w.Send(context.Background(), snapshot(true, "cus_1"))
	if err == nil {
		t.Fatal("401 accepted")
	}
	msg := err.Error()
	for _, secret := range []string{testToken, "pa55", "k3y", "cus_1", "streaming fell"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q contains %q", msg, secret)
		}
	}
	for _, want := range []string{"webhook", "401", "token rejected", "secretRef"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

func TestWebhookRetriesThenDeliversOnNextSend(t *testing.T) {
	c := newClock()
	w, srv := newTestWebhook(t, c, 503, 503, 503, 500)
	ctx := context.Background()
	err := w.Send(ctx, snapshot(false, "cus_1"))
	var de *DeliveryError
	if !errors.As(err, &de) || de.Attempts != 3 {
		t.Fatalf("err = %v", err)
	}
	// The next evaluation delivers what failed (500, then 200).
	if err := w.Send(ctx, snapshot(false, "cus_1")); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 5 {
		t.Fatalf("got %d requests, want 5", len(reqs))
	}
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			t.Fatal("a retry lost the token")
		}
	}
}

func TestNotifierRoundTrip(t *testing.T) {
	c := newClock()
	amSrv, hookSrv := newServer(t), newServer(t)
	spec := &v1alpha1.Notify{
		Alertmanager: &v1alpha1.AlertmanagerTarget{URL: amSrv.URL},
		Webhooks:     []v1alpha1.WebhookTarget{{URL: hookSrv.URL, SecretRef: &v1alpha1.SecretKeyRef{Name: "hook", Key: "token"}}},
	}
	o := fastOptions(c)
	o.Secrets = secrets{"hook/token": testToken}
	ctx := context.Background()

	n := New(spec, AlertOptions{}, o)
	if err := n.Send(ctx, snapshot(true, "cus_1")); err != nil {
		t.Fatal(err)
	}
	state, err := n.Export()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), amSrv.URL) || strings.Contains(string(state), testToken) {
		t.Errorf("state holds a URL or the token: %s", state)
	}

	c.Add(10 * time.Second)
	restarted := New(spec, AlertOptions{}, o)
	if err := restarted.Import(state); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Send(ctx, &journey.Snapshot{Namespace: "media", Name: "streaming"}); err != nil {
		t.Fatal(err)
	}
	if n := len(amSrv.requests()); n != 2 {
		t.Fatalf("alertmanager got %d requests, want 2", n)
	}
	if n := len(hookSrv.requests()); n != 2 {
		t.Fatalf("webhook got %d requests, want 2", n)
	}
	if got := decodeAlerts(t, amSrv.requests()[1].Body); len(got) != 2 || !time.Time(got["TrialConversionLow/"].EndsAt).Equal(c.Now()) {
		t.Errorf("alertmanager resolutions after restart = %v", keys(got))
	}
	p, got := decodeWebhook(t, hookSrv.requests()[1].Body)
	if len(got) != 2 || p.Journey != "streaming" || got["StreamingDropAfterBillingFailure/cus_1"].Status != StatusResolved {
		t.Errorf("webhook resolutions after restart = %+v", p)
	}

	// A receiver that fails does not stop the others; the error names it.
	broken := *spec
	broken.Webhooks = []v1alpha1.WebhookTarget{{URL: "http://127.0.0.1:1/x"}}
	n = New(&broken, AlertOptions{}, o)
	n.targets[1].(*Webhook).post.sleep = (&sleeps{}).sleep
	c.Add(time.Minute)
	err = n.Send(ctx, snapshot(true))
	if err == nil || !strings.Contains(err.Error(), "webhook http://127.0.0.1:1/x") {
		t.Fatalf("err = %v", err)
	}
	if n := len(amSrv.requests()); n != 3 {
		t.Fatalf("alertmanager got %d requests, want 3", n)
	}

	if err := New(nil, AlertOptions{}, o).Send(ctx, snapshot(true)); err != nil {
		t.Fatalf("no receivers: %v", err)
	}
}
