package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

// WebhookVersion is the version of the WebhookPayload schema.
const WebhookVersion = "1"

// webhookRetention is how long an undeliverable resolution is kept before
// it is forgotten, so a dead receiver cannot make the state grow forever.
const webhookRetention = 24 * time.Hour

// WebhookPayload is the JSON document POSTed to each spec.notify.webhooks[]
// URL (Content-Type: application/json; Authorization: Bearer <token> when
// the webhook has a secretRef).
//
// A webhook hears of each alert instance when it starts firing and once
// more when it is resolved; it is not re-sent while it keeps firing. A
// delivery that fails is retried on the next evaluation, so a receiver may
// see an alert twice and should key it by (namespace, journey, labels,
// startsAt). Large changes are split into documents of at most 256 alerts.
//
//	{
//	  "version":   "1",
//	  "namespace": "media",
//	  "journey":   "streaming",
//	  "sentAt":    "2025-11-18T10:05:00Z",
//	  "alerts": [{
//	    "name":        "StreamingDropAfterBillingFailure",
//	    "status":      "firing",                 // firing | resolved
//	    "severity":    "warning",
//	    "scope":       "User",                   // User | Journey
//	    "user":        "cus_123",                // User scope only
//	    "startsAt":    "2025-11-18T09:00:00Z",
//	    "endsAt":      "2025-11-18T11:00:00Z",   // resolved only
//	    "labels":      {"alertname": "...", "journey": "streaming", "namespace": "media", "severity": "warning", "user": "cus_123", ...},
//	    "annotations": {"summary": "..."}
//	  }]
//	}
type WebhookPayload struct {
	Version   string         `json:"version"`
	Namespace string         `json:"namespace"`
	Journey   string         `json:"journey"`
	SentAt    time.Time      `json:"sentAt"`
	Alerts    []WebhookAlert `json:"alerts"`
}

// WebhookAlert is one alert instance in a WebhookPayload.
type WebhookAlert struct {
	// Name of the alert in the spec (the alertname label).
	Name string `json:"name"`
	// Status is firing or resolved.
	Status   string `json:"status"`
	Severity string `json:"severity,omitempty"`
	// Scope is User or Journey.
	Scope string `json:"scope"`
	// User the alert is for (User scope only).
	User string `json:"user,omitempty"`
	// StartsAt is when the alert started firing.
	StartsAt time.Time `json:"startsAt"`
	// EndsAt is when it was first seen not firing (resolved only).
	EndsAt time.Time `json:"endsAt,omitzero"`
	// Labels are those sent to Alertmanager.
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Webhook sends a journey map's alert changes to one generic webhook. It is
// safe for concurrent use; sends are serialised.
type Webhook struct {
	target  v1alpha1.WebhookTarget
	post    *poster
	secrets connector.Secrets
	now     func() time.Time

	mu    sync.Mutex
	state tracker
}

// NewWebhook returns a sender to t. The Bearer token (t.SecretRef) is read
// through o.Secrets on every send, so a rotated Secret is picked up.
func NewWebhook(t v1alpha1.WebhookTarget, o Options) *Webhook {
	return &Webhook{target: t, post: newPoster(o), secrets: o.Secrets, now: o.now, state: newTracker()}
}

// Send folds an evaluation in and posts the alerts whose status the
// webhook has not been told yet: newly firing and newly resolved. A nil
// snap only retries what is undelivered. On error what could not be
// delivered stays due for the next call.
func (w *Webhook) Send(ctx context.Context, snap *journey.Snapshot) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	w.state.observe(snap, now)
	err := w.flush(ctx, now)
	w.state.expire(func(e *entry) bool {
		if e.ResolvedAt.IsZero() {
			return false
		}
		return e.SentStatus == StatusResolved || !now.Before(e.ResolvedAt.Add(webhookRetention))
	})
	return err
}

// Flush retries what is undelivered without a new evaluation.
func (w *Webhook) Flush(ctx context.Context) error { return w.Send(ctx, nil) }

func (w *Webhook) flush(ctx context.Context, now time.Time) error {
	due := w.state.due(func(e *entry) bool { return e.SentStatus != e.status() })
	if len(due) == 0 {
		return nil
	}
	tok, err := token(w.secrets, "webhook "+redactRaw(w.target.URL), w.target.SecretRef)
	if err != nil {
		return err
	}
	for len(due) > 0 {
		batch := due[:min(len(due), maxBatch)]
		due = due[len(batch):]
		body, err := json.Marshal(webhookPayload(w.state.namespace, w.state.journey, batch, now))
		if err != nil {
			return fmt.Errorf("webhook %s: encoding alerts: %w", redactRaw(w.target.URL), err)
		}
		if err := w.post.post(ctx, delivery{target: "webhook", url: w.target.URL, token: tok, body: body}); err != nil {
			return err
		}
		markSent(batch, now)
	}
	return nil
}

// webhookPayload is the document for es.
func webhookPayload(namespace, name string, es []*entry, now time.Time) WebhookPayload {
	p := WebhookPayload{
		Version:   WebhookVersion,
		Namespace: namespace,
		Journey:   name,
		SentAt:    now.UTC(),
		Alerts:    make([]WebhookAlert, 0, len(es)),
	}
	for _, e := range es {
		wa := WebhookAlert{
			Name:        e.Alert,
			Status:      e.status(),
			Severity:    e.Severity,
			Scope:       e.Scope,
			User:        e.User,
			StartsAt:    e.StartsAt.UTC(),
			Labels:      e.Labels,
			Annotations: e.Annotations,
		}
		if !e.ResolvedAt.IsZero() {
			wa.EndsAt = e.ResolvedAt.UTC()
		}
		p.Alerts = append(p.Alerts, wa)
	}
	return p
}

// Export returns what this webhook was told, as JSON for the evaluator's
// store.
func (w *Webhook) Export() ([]byte, error) {
	return marshalState(w.export())
}

// Import replaces the state with one Export returned, typically before the
// first Send after a restart.
func (w *Webhook) Import(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var s trackerState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decoding notification state: %w", err)
	}
	return w.load(s)
}

func (w *Webhook) export() trackerState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state.export()
}

func (w *Webhook) load(s trackerState) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state.load(s)
}
