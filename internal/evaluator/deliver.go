package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/notify"
)

// State keys of the evaluator's documents in the store.
const (
	notifyStateKey   = "notify"
	cooldownStateKey = "feedback-cooldown"
	sinceStateKey    = "feedback-since"
)

// delivery sends alerts and survey requests and keeps what it sent.
type delivery struct {
	notifier *notify.Notifier
	feedback *notify.Feedback
	cooldown *notify.Cooldown
	// since: users who entered a stage before the evaluator first ran are
	// not surveyed, so a first deploy does not survey the whole history.
	since time.Time
	saved map[string][]byte
}

// restoreDelivery loads the delivery state a previous process saved, or
// the survey cooldowns of its users from the previous layout of shards
// (nil: none) when this one has none yet.
func (e *Evaluator) restoreDelivery(ctx context.Context, prev *layout) error {
	d := e.delivery
	d.saved = map[string][]byte{}
	for key, imp := range map[string]func([]byte) error{notifyStateKey: d.notifier.Import, cooldownStateKey: d.cooldown.Import} {
		doc, err := e.store.LoadState(ctx, e.stateID(), key)
		if err != nil {
			return err
		}
		if err := imp(doc); err != nil {
			return err
		}
		d.saved[key] = doc
		if doc == nil && key == cooldownStateKey && prev != nil {
			if err := e.inheritCooldowns(ctx, *prev, d.cooldown); err != nil {
				return err
			}
		}
	}
	doc, err := e.store.LoadState(ctx, e.id(), sinceStateKey)
	if err != nil {
		return err
	}
	if doc == nil {
		d.since = e.now()
		doc, _ = json.Marshal(d.since)
		return e.store.SaveState(ctx, e.id(), sinceStateKey, doc)
	}
	return json.Unmarshal(doc, &d.since)
}

// deliver sends the snapshot's alerts, surveys the users who entered a
// feedback trigger's stage, fills snap.Feedback, and saves what changed.
// Delivery failures are logged and counted, and retried next time: they
// do not fail the evaluation.
func (e *Evaluator) deliver(ctx context.Context, snap *journey.Snapshot, users *journey.Users) error {
	d := e.delivery
	if err := d.notifier.Send(ctx, snap); err != nil {
		e.log.Error(err, "delivering alerts; retrying at the next evaluation")
		e.metrics.deliveryFailures.Inc()
	}
	now := e.now()
	for _, t := range e.cfg.Spec.Feedback {
		for i := range users.Len() {
			u := users.At(i)
			at, ok := u.Entered(t.OnEnter)
			if !ok || !at.After(d.since) || !d.cooldown.Allow(t, u.User, now) {
				continue
			}
			if err := d.feedback.Trigger(ctx, t, u.User, t.OnEnter, e.id(), at); err != nil {
				e.log.Error(err, "survey request failed; retrying at the next evaluation", "trigger", t.Name)
				e.metrics.deliveryFailures.Inc()
				continue
			}
			d.cooldown.Record(t.Name, u.User, now)
		}
		sent := d.cooldown.Sent(t.Name)
		fc := journey.FeedbackCount{Name: t.Name, OnEnter: t.OnEnter, Sent: int64(len(sent))}
		for user, at := range sent {
			if u := users.Get(user); u != nil && u.RespondedSince(at) {
				fc.Responses++
			}
		}
		if fc.Sent > 0 {
			fc.ResponseRate = float64(fc.Responses) / float64(fc.Sent)
		}
		snap.Feedback = append(snap.Feedback, fc)
	}
	for key, exp := range map[string]func() ([]byte, error){notifyStateKey: d.notifier.Export, cooldownStateKey: d.cooldown.Export} {
		doc, err := exp()
		if err != nil {
			return err
		}
		if bytes.Equal(doc, d.saved[key]) {
			continue
		}
		if err := e.store.SaveState(ctx, e.stateID(), key, doc); err != nil {
			return err
		}
		d.saved[key] = doc
	}
	return nil
}
