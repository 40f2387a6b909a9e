package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/connector"
)

// SurveyRequest is the JSON document POSTed to a feedback trigger's
// webhook when a user enters its stage (Authorization: Bearer <token> when
// the webhook has a secretRef). The Idempotency-Key header is the same for
// every attempt of one request, so a receiver can drop retried duplicates.
//
//	{"user": "cus_123", "stage": "Churned", "journey": "streaming",
//	 "trigger": "exit-survey", "time": "2025-11-18T10:05:00Z"}
type SurveyRequest struct {
	// User to survey.
	User string `json:"user"`
	// Stage the user entered.
	Stage string `json:"stage"`
	// Journey is the JourneyMap's name.
	Journey string `json:"journey"`
	// Trigger is the feedback trigger's name.
	Trigger string `json:"trigger"`
	// Time the user entered the stage.
	Time time.Time `json:"time"`
}

// Feedback sends survey requests. It is safe for concurrent use.
type Feedback struct {
	post    *poster
	secrets connector.Secrets
}

// NewFeedback returns a sender of survey requests; o.Secrets resolves the
// triggers' secretRefs.
func NewFeedback(o Options) *Feedback {
	return &Feedback{post: newPoster(o), secrets: o.Secrets}
}

// Trigger asks t's webhook to survey user, who entered stage of journey
// at at. It does not consult a Cooldown: check Allow before, Record after.
func (f *Feedback) Trigger(ctx context.Context, t v1alpha1.FeedbackTrigger, user, stage, journey string, at time.Time) error {
	target := "feedback trigger " + t.Name
	if user == "" {
		return fmt.Errorf("%s: no user to survey", target)
	}
	tok, err := token(f.secrets, target, t.Webhook.SecretRef)
	if err != nil {
		return err
	}
	req := SurveyRequest{User: user, Stage: stage, Journey: journey, Trigger: t.Name, Time: at.UTC()}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encoding request: %w", target, err)
	}
	sum := sha256.Sum256(body)
	h := http.Header{"Idempotency-Key": {hex.EncodeToString(sum[:16])}}
	return f.post.post(ctx, delivery{target: target, url: t.Webhook.URL, token: tok, body: body, header: h})
}

// Cooldown decides whether a user may be surveyed again by a trigger: not
// before the trigger's cooldown has passed since the last survey, and only
// once per user when the trigger has no cooldown. It is safe for
// concurrent use; its state exports to JSON for the evaluator's store.
type Cooldown struct {
	mu sync.Mutex
	// last survey by trigger, then user.
	last map[string]map[string]time.Time
}

// NewCooldown returns an empty Cooldown.
func NewCooldown() *Cooldown { return &Cooldown{last: map[string]map[string]time.Time{}} }

// Allow reports whether t may survey user at now.
func (c *Cooldown) Allow(t v1alpha1.FeedbackTrigger, user string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.last[t.Name][user]
	if !ok {
		return true
	}
	d := cooldownOf(t)
	if d <= 0 {
		return false // once per user
	}
	return now.Sub(last) >= d
}

// Record notes that t's survey was sent to user at at. Record after a
// successful Trigger; an earlier time than the one recorded is ignored.
func (c *Cooldown) Record(trigger, user string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	users := c.last[trigger]
	if users == nil {
		users = map[string]time.Time{}
		c.last[trigger] = users
	}
	if prev, ok := users[user]; !ok || at.After(prev) {
		users[user] = at
	}
}

// Sent returns when each user was last surveyed by the trigger.
func (c *Cooldown) Sent(trigger string) map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]time.Time, len(c.last[trigger]))
	for u, at := range c.last[trigger] {
		out[u] = at
	}
	return out
}

// Prune forgets what can no longer refuse a survey: triggers not in
// triggers, and users whose cooldown has passed. Once-per-user records are
// kept. It returns how many records it dropped.
func (c *Cooldown) Prune(triggers []v1alpha1.FeedbackTrigger, now time.Time) int {
	byName := make(map[string]v1alpha1.FeedbackTrigger, len(triggers))
	for _, t := range triggers {
		byName[t.Name] = t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dropped := 0
	for name, users := range c.last {
		t, ok := byName[name]
		if !ok {
			dropped += len(users)
			delete(c.last, name)
			continue
		}
		d := cooldownOf(t)
		if d <= 0 {
			continue
		}
		maps.DeleteFunc(users, func(_ string, last time.Time) bool {
			if now.Sub(last) >= d {
				dropped++
				return true
			}
			return false
		})
		if len(users) == 0 {
			delete(c.last, name)
		}
	}
	return dropped
}

// cooldownState is a Cooldown as JSON.
type cooldownState struct {
	Version  int                             `json:"version"`
	Triggers map[string]map[string]time.Time `json:"triggers"`
}

// Export returns the last survey times as JSON.
func (c *Cooldown) Export() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return marshalState(cooldownState{Version: stateVersion, Triggers: c.last})
}

// Import replaces the state with one Export returned; empty input is no
// state.
func (c *Cooldown) Import(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var s cooldownState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decoding feedback cooldown state: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("feedback cooldown state has version %d, want %d", s.Version, stateVersion)
	}
	last := make(map[string]map[string]time.Time, len(s.Triggers))
	for name, users := range s.Triggers {
		if name == "" {
			return errors.New("feedback cooldown state: a trigger has no name")
		}
		if len(users) > 0 {
			last[name] = maps.Clone(users)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = last
	return nil
}

func cooldownOf(t v1alpha1.FeedbackTrigger) time.Duration {
	if t.Cooldown == nil {
		return 0
	}
	return t.Cooldown.Duration
}
