package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

const (
	// DefaultResendInterval is how often a firing alert is sent again, as
	// Prometheus's --rules.alert.resend-delay.
	DefaultResendInterval = time.Minute
	// resolvedRetention is how long a resolved alert is still sent (at the
	// resend interval), as Prometheus does, so that an Alertmanager that
	// missed the first resolution still gets one.
	resolvedRetention = 15 * time.Minute
	// validityFactor × max(resend, evaluation interval) is how long
	// Alertmanager keeps a firing alert without hearing of it again.
	validityFactor = 4
	// maxBatch is the most alerts in one request.
	maxBatch = 256
	// AlertsPath is Alertmanager's API v2 endpoint for alerts.
	AlertsPath = "/api/v2/alerts"
)

// AlertOptions say how alerts are sent.
type AlertOptions struct {
	// ResendInterval between two sends of the same firing alert (default 1m).
	ResendInterval time.Duration
	// EvaluationInterval of the map. Firing alerts are sent with endsAt =
	// now + 4 × max(ResendInterval, EvaluationInterval), so that they stay
	// active between evaluations even when Send is only called on each.
	EvaluationInterval time.Duration
	// GeneratorURL links each alert back to its source, e.g. the evaluator's
	// Service URL; optional.
	GeneratorURL string
}

func (o AlertOptions) resend() time.Duration {
	if o.ResendInterval <= 0 {
		return DefaultResendInterval
	}
	return o.ResendInterval
}

// validFor is how far in the future a firing alert's endsAt is.
func (o AlertOptions) validFor() time.Duration {
	return validityFactor * max(o.resend(), o.EvaluationInterval)
}

// Alertmanager sends a journey map's alerts to one Alertmanager. It is safe
// for concurrent use; sends are serialised.
type Alertmanager struct {
	url  string
	opts AlertOptions
	post *poster
	now  func() time.Time

	mu    sync.Mutex
	state tracker
}

// NewAlertmanager returns a sender to the Alertmanager at t.URL.
func NewAlertmanager(t v1alpha1.AlertmanagerTarget, ao AlertOptions, o Options) *Alertmanager {
	return &Alertmanager{
		url:   strings.TrimRight(t.URL, "/") + AlertsPath,
		opts:  ao,
		post:  newPoster(o),
		now:   o.now,
		state: newTracker(),
	}
}

// Send folds an evaluation into what this Alertmanager knows and sends what
// is due: alerts that started firing, firing ones last sent a resend
// interval ago or more, and those that stopped firing (with endsAt = the
// time they were first seen stopped, so Alertmanager resolves them; sent
// again at the resend interval for 15 minutes). A nil snap only sends what
// is due. On error, what could not be sent stays due for the next call.
func (a *Alertmanager) Send(ctx context.Context, snap *journey.Snapshot) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.state.observe(snap, now)
	return a.flush(ctx, now)
}

// Flush sends what is due without a new evaluation: call it every resend
// interval when evaluations are further apart.
func (a *Alertmanager) Flush(ctx context.Context) error { return a.Send(ctx, nil) }

func (a *Alertmanager) flush(ctx context.Context, now time.Time) error {
	// Forget resolved alerts once they have been resent for long enough.
	a.state.expire(func(e *entry) bool {
		return !e.ResolvedAt.IsZero() && !now.Before(e.ResolvedAt.Add(resolvedRetention))
	})
	resend := a.opts.resend()
	due := a.state.due(func(e *entry) bool {
		if e.SentStatus != e.status() || e.SentAt.IsZero() {
			return true
		}
		return !now.Before(e.SentAt.Add(resend))
	})
	payload, sent, errs := a.payload(due, now)
	for len(payload) > 0 {
		n := min(len(payload), maxBatch)
		body, err := json.Marshal(payload[:n])
		if err != nil {
			errs = append(errs, fmt.Errorf("alertmanager: encoding alerts: %w", err))
			break
		}
		if err := a.post.post(ctx, delivery{target: "alertmanager", url: a.url, body: body}); err != nil {
			// The rest would most likely fail the same way: leave it due.
			errs = append(errs, err)
			break
		}
		markSent(sent[:n], now)
		payload, sent = payload[n:], sent[n:]
	}
	return errors.Join(errs...)
}

// payload builds the API v2 alerts of es, validated with Alertmanager's own
// models and the checks its API applies. Invalid alerts are left out, with
// an error each, so they cannot make Alertmanager refuse the whole batch.
func (a *Alertmanager) payload(es []*entry, now time.Time) (models.PostableAlerts, []*entry, []error) {
	out := make(models.PostableAlerts, 0, len(es))
	sent := make([]*entry, 0, len(es))
	// One error per alert, not per user: errors reach conditions and
	// Events, which must stay short and name no customer.
	var names []string
	bad := map[string]int{}
	firstErr := map[string]error{}
	for _, e := range es {
		pa := postableAlert(e, now, a.opts)
		if err := validatePostable(pa); err != nil {
			if bad[e.Alert] == 0 {
				names = append(names, e.Alert)
				firstErr[e.Alert] = err
			}
			bad[e.Alert]++
			continue
		}
		out = append(out, pa)
		sent = append(sent, e)
	}
	errs := make([]error, 0, len(names))
	for _, n := range names {
		errs = append(errs, fmt.Errorf("alertmanager: alert %s not sent (%d instances): %w", n, bad[n], firstErr[n]))
	}
	return out, sent, errs
}

// postableAlert is one alert as Alertmanager's API v2 takes it: startsAt
// when it started firing; endsAt in the future while firing (Alertmanager
// resolves it by itself if it is not sent again by then), or when it
// stopped firing once resolved.
func postableAlert(e *entry, now time.Time, o AlertOptions) *models.PostableAlert {
	endsAt := now.Add(o.validFor())
	if !e.ResolvedAt.IsZero() {
		endsAt = e.ResolvedAt
	}
	startsAt := e.StartsAt
	if startsAt.After(endsAt) {
		startsAt = endsAt
	}
	pa := &models.PostableAlert{
		Alert: models.Alert{
			Labels:       models.LabelSet(clone(e.Labels)),
			GeneratorURL: strfmt.URI(o.GeneratorURL),
		},
		StartsAt: strfmt.DateTime(startsAt.UTC()),
		EndsAt:   strfmt.DateTime(endsAt.UTC()),
	}
	if len(e.Annotations) > 0 {
		pa.Annotations = models.LabelSet(clone(e.Annotations))
	}
	return pa
}

// validatePostable applies Alertmanager's models' validation and what its
// API checks besides: labels present, names and values valid UTF-8, a start
// and an end in order.
func validatePostable(pa *models.PostableAlert) error {
	if err := pa.Validate(strfmt.Default); err != nil {
		return err
	}
	if len(pa.Labels) == 0 {
		return errors.New("no labels")
	}
	for _, set := range []struct {
		what string
		ls   models.LabelSet
	}{{"label", pa.Labels}, {"annotation", pa.Annotations}} {
		for k, v := range set.ls {
			if k == "" || !utf8.ValidString(k) {
				return fmt.Errorf("%s name %q is not valid UTF-8", set.what, k)
			}
			if !utf8.ValidString(v) {
				return fmt.Errorf("%s %s: value is not valid UTF-8", set.what, k)
			}
		}
	}
	start, end := time.Time(pa.StartsAt), time.Time(pa.EndsAt)
	if start.IsZero() {
		return errors.New("no startsAt")
	}
	if !end.IsZero() && end.Before(start) {
		return errors.New("endsAt is before startsAt")
	}
	return nil
}

// Export returns what this Alertmanager was sent, as JSON for the
// evaluator's store.
func (a *Alertmanager) Export() ([]byte, error) {
	return marshalState(a.export())
}

// Import replaces the state with one Export returned, typically before the
// first Send after a restart: alerts sent recently are not sent again
// before the resend interval, and alerts that were firing and no longer
// are get resolved.
func (a *Alertmanager) Import(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var s trackerState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decoding notification state: %w", err)
	}
	return a.load(s)
}

func (a *Alertmanager) export() trackerState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.export()
}

func (a *Alertmanager) load(s trackerState) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.load(s)
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
