package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

// target is one receiver of alerts with its own delivery state.
type target interface {
	Send(ctx context.Context, snap *journey.Snapshot) error
	export() trackerState
	load(trackerState) error
}

// Notifier sends a journey map's alerts to every receiver its
// spec.notify names. Each receiver keeps its own state, so one that is
// down neither blocks nor duplicates deliveries to the others.
type Notifier struct {
	keys    []string
	targets []target
}

// New returns the notifier for spec (nil: no receivers, Send does nothing).
func New(spec *v1alpha1.Notify, ao AlertOptions, o Options) *Notifier {
	n := &Notifier{}
	if spec == nil {
		return n
	}
	seen := map[string]int{}
	add := func(key string, t target) {
		// The same URL twice still makes two receivers with two states.
		if seen[key]++; seen[key] > 1 {
			key = fmt.Sprintf("%s-%d", key, seen[key])
		}
		n.keys = append(n.keys, key)
		n.targets = append(n.targets, t)
	}
	if am := spec.Alertmanager; am != nil {
		add(targetKey("alertmanager", am.URL), NewAlertmanager(*am, ao, o))
	}
	for _, w := range spec.Webhooks {
		add(targetKey("webhook", w.URL), NewWebhook(w, o))
	}
	return n
}

// targetKey names a receiver in the exported state. The URL is hashed: it
// may carry a key in its query, and the state is stored.
func targetKey(kind, url string) string {
	sum := sha256.Sum256([]byte(url))
	return kind + "/" + hex.EncodeToString(sum[:8])
}

// Send delivers an evaluation to every receiver at once and returns their
// errors joined (each a *DeliveryError or names its receiver).
func (n *Notifier) Send(ctx context.Context, snap *journey.Snapshot) error {
	errs := make([]error, len(n.targets))
	var wg sync.WaitGroup
	for i, t := range n.targets {
		wg.Go(func() { errs[i] = t.Send(ctx, snap) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Flush sends what is due without a new evaluation: Alertmanager resends
// and undelivered webhook changes. Call it every resend interval when the
// evaluation interval is longer.
func (n *Notifier) Flush(ctx context.Context) error { return n.Send(ctx, nil) }

// notifierState is the JSON of Export: each receiver's state by key.
type notifierState struct {
	Version int                     `json:"version"`
	Targets map[string]trackerState `json:"targets"`
}

// Export returns every receiver's state as one JSON document, to store with
// the evaluation and give back to Import after a restart.
func (n *Notifier) Export() ([]byte, error) {
	s := notifierState{Version: stateVersion, Targets: make(map[string]trackerState, len(n.targets))}
	for i, t := range n.targets {
		s.Targets[n.keys[i]] = t.export()
	}
	return marshalState(s)
}

// Import restores the state Export returned. Receivers no longer in the
// spec are ignored (an Alertmanager whose URL changed gets no resolutions;
// its alerts expire at their endsAt); new receivers start empty. Empty
// input is no state. Call it before the first Send.
func (n *Notifier) Import(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var s notifierState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decoding notification state: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("notification state has version %d, want %d", s.Version, stateVersion)
	}
	for i, t := range n.targets {
		ts, ok := s.Targets[n.keys[i]]
		if !ok {
			continue
		}
		if err := t.load(ts); err != nil {
			return err
		}
	}
	return nil
}
