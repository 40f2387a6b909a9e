package peers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/store"
)

const (
	userAlert    = "StreamingDropAfterBillingFailure" // User scope, warning, for
	journeyAlert = "TrialConversionLow"               // Journey scope, critical
	generatorURL = "http://streaming-journey-evaluator.default.svc/"
)

// The evaluator's alerts through a real Alertmanager, on the sample data:
// what arrives, how it is grouped and routed, resolution, a silence made
// with amtool, and Alertmanager down then back. Steps run in order: each
// starts from what the one before left.
func TestAlertsThroughAlertmanager(t *testing.T) {
	ctx := context.Background()
	am := startAlertmanager(t)
	smp := newSample(t)
	wantUsers := smp.manifest.Journey.AlertsAtAsOf[userAlert]
	if wantUsers == 0 {
		t.Fatalf("expected.json counts no user for %s", userAlert)
	}

	jm := smp.journey
	jm.Spec.Notify = &v1alpha1.Notify{Alertmanager: &v1alpha1.AlertmanagerTarget{URL: am.URL}}
	jm.Spec.Feedback = nil // surveys go to example.internal: not this test's subject
	for i := range jm.Spec.Alerts {
		a := &jm.Spec.Alerts[i]
		switch a.Name {
		case userAlert:
			a.For = &metav1.Duration{Duration: time.Second} // pending first, as in production, without the hour
		case journeyAlert:
			// 28% of trials convert in the sample data: make it fire.
			a.Expression = `journey.conversion("Trial", "Subscribed") < 0.5`
		}
	}
	cfg := render.JourneyConfig(&jm, smp.sources)
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	var clk clock
	reg := prometheus.NewRegistry()
	ev, err := evaluator.New(env, cfg, smp.store, nil, reg, clk.now, logr.Discard(), evaluator.Options{GeneratorURL: generatorURL})
	if err != nil {
		t.Fatal(err)
	}
	evaluate := func(t *testing.T) journey.Snapshot {
		t.Helper()
		snap, err := ev.Once(ctx)
		if err != nil {
			t.Fatalf("evaluation: %v", err)
		}
		return snap
	}
	failures := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "journey_delivery_failures_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("no journey_delivery_failures_total")
		return 0
	}

	var firing []string // users the user alert fires for
	var firedAt time.Time

	t.Run("a pending alert is not sent; a firing one is", func(t *testing.T) {
		snap := evaluate(t)
		if st := alertState(snap, userAlert); st.Pending != wantUsers || st.Firing != 0 {
			t.Fatalf("first evaluation: %s pending %d, firing %d; want %d pending (expected.json)", userAlert, st.Pending, st.Firing, wantUsers)
		}
		eventually(t, 10*time.Second, "Alertmanager holds the Journey-scoped alert", func() error {
			held, err := am.alerts()
			if err != nil {
				return err
			}
			if names := alertNames(held); !slices.Equal(names, []string{journeyAlert}) {
				return fmt.Errorf("Alertmanager holds %v, want only %s (%s is pending)", names, journeyAlert, userAlert)
			}
			return nil
		})
		time.Sleep(1100 * time.Millisecond) // `for` passes
		snap = evaluate(t)
		firedAt = clk.now()
		st := alertState(snap, userAlert)
		if st.Firing != wantUsers {
			t.Fatalf("%s fires for %d users, want %d (expected.json)", userAlert, st.Firing, wantUsers)
		}
		for _, in := range st.Instances {
			firing = append(firing, in.User)
		}
		slices.Sort(firing)
	})

	t.Run("alerts arrive with the documented labels and annotations", func(t *testing.T) {
		var held models.GettableAlerts
		eventually(t, 10*time.Second, "Alertmanager holds every firing alert", func() (err error) {
			if held, err = am.alerts(); err != nil {
				return err
			}
			if n := len(held); n != len(firing)+1 {
				return fmt.Errorf("%d alerts, want %d", n, len(firing)+1)
			}
			return nil
		})
		var users []string
		for _, a := range held {
			ends, starts := time.Time(*a.EndsAt), time.Time(*a.StartsAt)
			if *a.Status.State != models.AlertStatusStateActive || len(a.Receivers) != 1 || *a.Receivers[0].Name != receiverName {
				t.Errorf("%v: state %s, receivers %v; want active, routed to %s", a.Labels, *a.Status.State, a.Receivers, receiverName)
			}
			if string(a.GeneratorURL) != generatorURL {
				t.Errorf("%v: generatorURL %q, want %q", a.Labels, a.GeneratorURL, generatorURL)
			}
			// Firing alerts are sent valid for 4 × max(resend 1m, evaluation interval 5m).
			if d := ends.Sub(firedAt); d < 19*time.Minute || d > 21*time.Minute {
				t.Errorf("%v: endsAt %s is %s after it fired, want 20m", a.Labels, ends, d)
			}
			if starts.After(ends) || starts.After(firedAt) {
				t.Errorf("%v: startsAt %s (fired at %s, ends %s)", a.Labels, starts, firedAt, ends)
			}
			switch a.Labels["alertname"] {
			case userAlert:
				users = append(users, a.Labels["user"])
				want := map[string]string{"alertname": userAlert, "namespace": "default", "journey": "streaming-journey",
					"severity": "warning", "user": a.Labels["user"]}
				if !maps.Equal(a.Labels, models.LabelSet(want)) || a.Labels["user"] == "" {
					t.Errorf("labels %v, want %v", a.Labels, want)
				}
				if want := (models.LabelSet{"summary": "streaming fell by half after a failed payment"}); !maps.Equal(a.Annotations, want) {
					t.Errorf("annotations %v, want %v", a.Annotations, want)
				}
			case journeyAlert:
				want := models.LabelSet{"alertname": journeyAlert, "namespace": "default", "journey": "streaming-journey", "severity": "critical"}
				if !maps.Equal(a.Labels, want) {
					t.Errorf("labels %v, want %v (a Journey-scoped alert names no user)", a.Labels, want)
				}
				if want := (models.LabelSet{"summary": "fewer than 15% of trials convert to a paid subscription"}); !maps.Equal(a.Annotations, want) {
					t.Errorf("annotations %v, want %v", a.Annotations, want)
				}
			}
		}
		slices.Sort(users)
		if !slices.Equal(users, firing) {
			t.Errorf("Alertmanager holds %s for %v, want the users it fires for: %v", userAlert, users, firing)
		}
		// amtool reads the same.
		var queried []struct {
			Labels map[string]string `json:"labels"`
		}
		out := am.amtool("alert", "query", "-o", "json", "alertname="+userAlert, "journey=streaming-journey")
		if err := json.Unmarshal([]byte(out), &queried); err != nil || len(queried) != len(firing) {
			t.Errorf("amtool alert query: %d alerts (%v), want %d:\n%s", len(queried), err, len(firing), out)
		}
	})

	t.Run("alerts are grouped by journey map and alert, and reach the receiver", func(t *testing.T) {
		groups, err := am.groups()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, g := range groups {
			if *g.Receiver.Name != receiverName {
				t.Errorf("group %v went to receiver %s, want %s", g.Labels, *g.Receiver.Name, receiverName)
			}
			if want := (models.LabelSet{"namespace": "default", "journey": "streaming-journey", "alertname": g.Labels["alertname"]}); !maps.Equal(g.Labels, want) {
				t.Errorf("group labels %v, want %v", g.Labels, want)
			}
			got[g.Labels["alertname"]] = len(g.Alerts)
		}
		if want := map[string]int{userAlert: len(firing), journeyAlert: 1}; !maps.Equal(got, want) {
			t.Errorf("groups (alerts by alertname) %v, want %v", got, want)
		}
		eventually(t, 10*time.Second, "the receiver is notified of both groups", func() error {
			for alert, n := range map[string]int{userAlert: len(firing), journeyAlert: 1} {
				ns := am.hook.of(alert, time.Time{})
				if len(ns) == 0 {
					return fmt.Errorf("no notification of %s", alert)
				}
				last := ns[len(ns)-1]
				if last.Receiver != receiverName || last.Status != "firing" || len(last.Alerts) != n ||
					last.CommonLabels["journey"] != "streaming-journey" || last.CommonLabels["namespace"] != "default" {
					return fmt.Errorf("notification of %s: receiver %s, status %s, %d alerts, common labels %v; want %s, firing, %d",
						alert, last.Receiver, last.Status, len(last.Alerts), last.CommonLabels, receiverName, n)
				}
			}
			return nil
		})
		n := am.hook.of(userAlert, time.Time{})[0]
		if n.CommonAnnotations["summary"] != "streaming fell by half after a failed payment" || n.Alerts[0].GeneratorURL != generatorURL {
			t.Errorf("notification's annotations %v, generatorURL %q", n.CommonAnnotations, n.Alerts[0].GeneratorURL)
		}
	})

	t.Run("an alert that stops firing is resolved in Alertmanager, not left to expire", func(t *testing.T) {
		// The user streams again: two days of it, in one session just now.
		user := firing[0]
		at := clk.now().Add(-time.Minute)
		commitEvents(t, smp.store, "default/playback-sessions", store.Event{EventID: "peers-resume-" + user, UserID: user,
			Touchpoint: "playback", System: "mux", Type: "playback.session", OccurredAt: at,
			Attributes: map[string]any{"minutes": 2880.0}})
		since := time.Now()
		snap := evaluate(t)
		resolvedAt := clk.now()
		if st := alertState(snap, userAlert); st.Firing != int64(len(firing)-1) {
			t.Fatalf("after %s streamed again: %d firing, want %d", user, st.Firing, len(firing)-1)
		}
		eventually(t, 10*time.Second, "Alertmanager no longer holds the alert of "+user, func() error {
			held, err := am.alerts()
			if err != nil {
				return err
			}
			for _, a := range held {
				if a.Labels["user"] == user {
					return fmt.Errorf("still held, endsAt %s", time.Time(*a.EndsAt))
				}
			}
			return nil
		})
		eventually(t, 10*time.Second, "the receiver is told it resolved", func() error {
			for _, n := range am.hook.of(userAlert, since) {
				for _, a := range n.Alerts {
					if a.Labels["user"] != user {
						continue
					}
					if a.Status != "resolved" {
						return fmt.Errorf("notified %s", a.Status)
					}
					// Resolved at the evaluation that saw it stop, not at the
					// end of its 20 minutes' validity.
					if d := a.EndsAt.Sub(resolvedAt); d < -5*time.Second || d > 5*time.Second {
						return fmt.Errorf("endsAt %s, want when the evaluator saw it stop (%s)", a.EndsAt, resolvedAt)
					}
					return nil
				}
			}
			return fmt.Errorf("no notification names %s since %s", user, since)
		})
		firing = firing[1:]
	})

	t.Run("a silence made with amtool stops notifications while the evaluator keeps sending; they resume when it expires", func(t *testing.T) {
		id := strings.TrimSpace(am.amtool("silence", "add", "alertname="+userAlert, "journey=streaming-journey",
			"--duration=10s", "--author=journey-operator tests", "--comment=maintenance of the billing retries"))
		if id == "" {
			t.Fatal("amtool silence add printed no silence ID")
		}
		var silenceEnds time.Time
		eventually(t, 10*time.Second, "Alertmanager suppresses the silenced alerts", func() error {
			held, err := am.alerts()
			if err != nil {
				return err
			}
			for _, a := range held {
				silenced := *a.Status.State == models.AlertStatusStateSuppressed && slices.Contains(a.Status.SilencedBy, id)
				if silenced != (a.Labels["alertname"] == userAlert) {
					return fmt.Errorf("%v: state %s, silenced by %v", a.Labels, *a.Status.State, a.Status.SilencedBy)
				}
			}
			return nil
		})
		var sils []struct {
			ID     string    `json:"id"`
			EndsAt time.Time `json:"endsAt"`
		}
		if err := json.Unmarshal([]byte(am.amtool("silence", "query", "-o", "json")), &sils); err != nil || len(sils) != 1 || sils[0].ID != id {
			t.Fatalf("amtool silence query: %+v (%v), want silence %s", sils, err, id)
		}
		silenceEnds = sils[0].EndsAt
		// A flush under way when the silence came may still arrive.
		time.Sleep(1500 * time.Millisecond)
		quiet := time.Now()

		// The evaluator keeps sending: its clock moves a resend interval on,
		// and Alertmanager gets every firing alert again.
		before, err := am.alerts()
		if err != nil {
			t.Fatal(err)
		}
		updated := map[string]time.Time{}
		for _, a := range before {
			updated[a.Labels["user"]+a.Labels["alertname"]] = time.Time(*a.UpdatedAt)
		}
		for i := 0; i < 2; i++ {
			clk.advance(61 * time.Second)
			evaluate(t)
			time.Sleep(time.Second)
		}
		after, err := am.alerts()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range after {
			if was := updated[a.Labels["user"]+a.Labels["alertname"]]; !time.Time(*a.UpdatedAt).After(was) {
				t.Errorf("%v: updated at %s, as before the silence: the evaluator did not send it again", a.Labels, time.Time(*a.UpdatedAt))
			}
		}
		// The group that is not silenced is notified again meanwhile: with
		// flushes every second, a 2s repeat comes every 2 to 3 seconds.
		eventually(t, time.Until(silenceEnds)-time.Second, "the group that is not silenced is notified again during the silence", func() error {
			if len(am.hook.of(journeyAlert, quiet)) == 0 {
				return errors.New("no notification of it since the silence began: Alertmanager is not repeating at all")
			}
			return nil
		})
		if time.Now().After(silenceEnds) {
			t.Fatalf("the silence ended (%s) before the quiet period could be observed; the machine is too slow for a 10s silence", silenceEnds)
		}
		if ns := am.hook.of(userAlert, quiet); len(ns) > 0 {
			t.Errorf("%d notifications of the silenced group during the silence", len(ns))
		}
		eventually(t, time.Until(silenceEnds)+15*time.Second, "notifications resume once the silence expires", func() error {
			for _, n := range am.hook.of(userAlert, silenceEnds) {
				if n.Status == "firing" && len(n.Alerts) == len(firing) {
					return nil
				}
			}
			return fmt.Errorf("no firing notification of %s since the silence ended at %s", userAlert, silenceEnds)
		})
	})

	t.Run("Alertmanager down, then back: what was due is delivered, nothing lost, nothing crashes", func(t *testing.T) {
		am.stop()
		// A new user's streaming drops after a failed payment while
		// Alertmanager is down.
		now := clk.now()
		const user = "cus_peers_dropped"
		commitEvents(t, smp.store, "default/playback-sessions", store.Event{EventID: "peers-before-" + user, UserID: user,
			Touchpoint: "playback", System: "mux", Type: "playback.session", OccurredAt: now.Add(-10 * 24 * time.Hour),
			Attributes: map[string]any{"minutes": 600.0}})
		commitEvents(t, smp.store, "default/billing-stripe", store.Event{EventID: "peers-failed-" + user, UserID: user,
			Touchpoint: "billing", System: "stripe", Type: "invoice.payment_failed", OccurredAt: now.Add(-time.Hour)})
		failed := failures()
		evaluate(t) // pending (for: 1s)
		time.Sleep(1100 * time.Millisecond)
		snap := evaluate(t) // fires; Alertmanager cannot be reached
		st := alertState(snap, userAlert)
		if !slices.ContainsFunc(st.Instances, func(in journey.AlertInstance) bool { return in.User == user }) {
			t.Fatalf("%s does not fire for %s: %+v", userAlert, user, st)
		}
		if got := failures(); got <= failed {
			t.Errorf("journey_delivery_failures_total %v, was %v: the failed delivery is not counted", got, failed)
		}

		am.start() // empty: Alertmanager keeps alerts in memory only
		evaluate(t)
		eventually(t, 10*time.Second, "the alert that could not be delivered arrives", func() error {
			held, err := am.alerts()
			if err != nil {
				return err
			}
			if users := userLabels(held); !slices.Equal(users, []string{user}) {
				return fmt.Errorf("Alertmanager holds %s for %v, want %s (due since the failed delivery)", userAlert, users, user)
			}
			return nil
		})
		// At the next resend, what Alertmanager lost in its restart is back.
		clk.advance(61 * time.Second)
		evaluate(t)
		want := slices.Sorted(slices.Values(append(slices.Clone(firing), user)))
		eventually(t, 10*time.Second, "every firing alert is held again", func() error {
			held, err := am.alerts()
			if err != nil {
				return err
			}
			if users := userLabels(held); !slices.Equal(users, want) {
				return fmt.Errorf("Alertmanager holds %s for %v, want %v", userAlert, users, want)
			}
			if !slices.Contains(alertNames(held), journeyAlert) {
				return fmt.Errorf("Alertmanager lost %s", journeyAlert)
			}
			return nil
		})
		eventually(t, 10*time.Second, "the receiver is notified of the new user", func() error {
			for _, n := range am.hook.of(userAlert, time.Time{}) {
				for _, a := range n.Alerts {
					if a.Labels["user"] == user && a.Status == "firing" {
						return nil
					}
				}
			}
			return fmt.Errorf("no notification names %s", user)
		})
	})
}

// commitEvents writes events as an ingest run of source would.
func commitEvents(t *testing.T, st store.Store, source string, events ...store.Event) {
	t.Helper()
	for i := range events {
		events[i].Namespace = strings.SplitN(source, "/", 2)[0]
	}
	if _, err := st.Commit(context.Background(), store.Batch{Source: source, Events: events}); err != nil {
		t.Fatalf("committing events of %s: %v", source, err)
	}
}

func alertState(s journey.Snapshot, name string) journey.AlertState {
	for _, a := range s.Alerts {
		if a.Name == name {
			return a
		}
	}
	return journey.AlertState{}
}

// alertNames are the distinct alert names held, sorted.
func alertNames(as models.GettableAlerts) []string {
	var out []string
	for _, a := range as {
		if n := a.Labels["alertname"]; !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// userLabels are the users of the User-scoped alerts held, sorted.
func userLabels(as models.GettableAlerts) []string {
	var out []string
	for _, a := range as {
		if a.Labels["alertname"] == userAlert {
			out = append(out, a.Labels["user"])
		}
	}
	slices.Sort(out)
	return out
}
