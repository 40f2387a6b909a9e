package notify

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

// Alert statuses as receivers see them.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// stateVersion is the version of the exported JSON; Import refuses others.
const stateVersion = 1

// entry is one alert instance a target knows about: firing now, or
// resolved and not yet done with.
type entry struct {
	Alert    string `json:"alert"`
	Scope    string `json:"scope"`
	Severity string `json:"severity,omitempty"`
	User     string `json:"user,omitempty"`
	// Labels identify the alert (Alertmanager fingerprints them): the spec's
	// labels plus alertname, journey, namespace, severity and user.
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt"`
	// ResolvedAt is when the alert was first seen not firing; zero while
	// it fires.
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
	// SentAt and SentStatus describe the last successful delivery; zero and
	// "" when the current episode was never delivered.
	SentAt     time.Time `json:"sentAt,omitzero"`
	SentStatus string    `json:"sentStatus,omitempty"`

	key string // fingerprint(Labels)
}

func (e *entry) status() string {
	if e.ResolvedAt.IsZero() {
		return StatusFiring
	}
	return StatusResolved
}

// tracker holds the alert instances one target knows about, keyed by their
// labels. It is not safe for concurrent use; its owner locks.
type tracker struct {
	namespace, journey string
	entries            map[string]*entry
}

func newTracker() tracker { return tracker{entries: map[string]*entry{}} }

// observe folds one evaluation in: every firing instance is tracked as
// firing; what was firing before and is not now is resolved at now.
func (t *tracker) observe(snap *journey.Snapshot, now time.Time) {
	if snap == nil {
		return
	}
	t.namespace, t.journey = snap.Namespace, snap.Name
	seen := make(map[string]bool)
	for _, a := range snap.Alerts {
		for _, in := range a.Instances {
			labels := alertLabels(snap.Namespace, snap.Name, a, in.User)
			key := fingerprint(labels)
			seen[key] = true
			startsAt := in.FiredAt
			if startsAt.IsZero() {
				startsAt = in.ActiveAt
			}
			if startsAt.IsZero() || startsAt.After(now) {
				startsAt = now
			}
			e, ok := t.entries[key]
			switch {
			case !ok:
				e = &entry{StartsAt: startsAt, key: key}
				t.entries[key] = e
			case !e.ResolvedAt.IsZero():
				// Firing again: a new episode, to be delivered afresh.
				*e = entry{StartsAt: startsAt, key: key}
			case startsAt.Before(e.StartsAt):
				e.StartsAt = startsAt
			}
			e.Alert, e.Scope, e.Severity, e.User = a.Name, scopeOf(a), a.Severity, userOf(a, in.User)
			e.Labels = labels
			e.Annotations = cloneNonEmpty(a.Annotations)
		}
	}
	for key, e := range t.entries {
		if !seen[key] && e.ResolvedAt.IsZero() {
			e.ResolvedAt = now
		}
	}
}

// due returns the entries for which want holds, in a stable order (alert,
// user, labels).
func (t *tracker) due(want func(*entry) bool) []*entry {
	var out []*entry
	for _, e := range t.entries {
		if want(e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *entry) int {
		if c := strings.Compare(a.Alert, b.Alert); c != 0 {
			return c
		}
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return out
}

// markSent records a successful delivery of es at now.
func markSent(es []*entry, now time.Time) {
	for _, e := range es {
		e.SentAt, e.SentStatus = now, e.status()
	}
}

// expire forgets the entries for which done holds.
func (t *tracker) expire(done func(*entry) bool) {
	maps.DeleteFunc(t.entries, func(_ string, e *entry) bool { return done(e) })
}

// trackerState is a tracker as JSON.
type trackerState struct {
	Version   int      `json:"version"`
	Namespace string   `json:"namespace,omitempty"`
	Journey   string   `json:"journey,omitempty"`
	Alerts    []*entry `json:"alerts"`
}

func (t *tracker) export() trackerState {
	return trackerState{
		Version:   stateVersion,
		Namespace: t.namespace,
		Journey:   t.journey,
		Alerts:    t.due(func(*entry) bool { return true }),
	}
}

func (t *tracker) load(s trackerState) error {
	if s.Version != stateVersion {
		return fmt.Errorf("notification state has version %d, want %d", s.Version, stateVersion)
	}
	entries := make(map[string]*entry, len(s.Alerts))
	for i, e := range s.Alerts {
		if e == nil || e.Alert == "" || len(e.Labels) == 0 {
			return fmt.Errorf("notification state: alert %d has no name or labels", i)
		}
		c := *e
		c.key = fingerprint(c.Labels)
		entries[c.key] = &c
	}
	t.namespace, t.journey, t.entries = s.Namespace, s.Journey, entries
	return nil
}

func marshalState(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding notification state: %w", err)
	}
	return b, nil
}

// alertLabels are the labels of one alert instance: the spec's labels,
// overridden by alertname, journey, namespace, severity and, for User
// scope, user. Empty values are left out (Alertmanager treats them as
// absent anyway).
func alertLabels(namespace, name string, a journey.AlertState, user string) map[string]string {
	l := cloneNonEmpty(a.Labels)
	if l == nil {
		l = make(map[string]string, 5)
	}
	delete(l, "user") // only the evaluator says which user an alert is for
	l["alertname"] = a.Name
	l["journey"] = name
	l["namespace"] = namespace
	if a.Severity != "" {
		l["severity"] = a.Severity
	}
	if u := userOf(a, user); u != "" {
		l["user"] = u
	}
	return l
}

// scopeOf is the alert's scope, User when unset (the API's default).
func scopeOf(a journey.AlertState) string {
	if a.Scope == "" {
		return string(v1alpha1.AlertScopeUser)
	}
	return a.Scope
}

func userOf(a journey.AlertState, user string) string {
	if scopeOf(a) == string(v1alpha1.AlertScopeJourney) {
		return ""
	}
	return user
}

// fingerprint is a canonical string of a label set.
func fingerprint(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0xfe)
		b.WriteString(labels[k])
		b.WriteByte(0xff)
	}
	return b.String()
}

func cloneNonEmpty(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if v == "" {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(m))
		}
		out[k] = v
	}
	return out
}
