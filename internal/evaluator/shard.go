package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

// A sharded evaluation runs one evaluator per shard, each evaluating the
// users a stable hash of their ID gives it (journey.Shard). Each keeps its
// users' states, alert memory and delivery records apart (stateID), sends
// its users' alerts and surveys, and publishes its users' figures
// (journey.Partial) in the store. Shard 0 merges every shard's into the
// journey's: it judges the Journey-scoped alerts on them, and alone writes
// the status and the journey's metrics and serves the page. Shards share
// nothing but the store.

// partialStateKey is where a shard's figures live, under its stateID.
const partialStateKey = "partial"

// shardDoc is a shard's figures as it last published them.
type shardDoc struct {
	Partial journey.Partial `json:"partial"`
}

// ErrShardsMissing: the merging shard has not got every shard's figures
// yet; Run tries again within shardRetry.
var ErrShardsMissing = errors.New("waiting for every shard's first evaluation")

// otherShards are the other shards' figures, for the merging shard; none
// for another shard or an unsharded evaluator.
func (e *Evaluator) otherShards(ctx context.Context) ([]journey.Partial, error) {
	if e.shard.Count <= 1 || !e.shard.Merges() {
		return nil, nil
	}
	out := make([]journey.Partial, 0, e.shard.Count-1)
	for k := 1; k < e.shard.Count; k++ {
		doc, err := e.store.LoadState(ctx, stateIDOf(e.id(), journey.Shard{Index: k, Count: e.shard.Count}, e.generation), partialStateKey)
		if err != nil {
			return nil, err
		}
		if doc == nil {
			return nil, fmt.Errorf("%w: shard %d of %d has published none", ErrShardsMissing, k, e.shard.Count)
		}
		var d shardDoc
		if err := json.Unmarshal(doc, &d); err != nil {
			return nil, fmt.Errorf("figures of shard %d of %d: %w", k, e.shard.Count, err)
		}
		out = append(out, d.Partial)
	}
	return out, nil
}

// publishShard saves a shard's figures for the merging shard to read.
func (e *Evaluator) publishShard(ctx context.Context, own journey.Partial) error {
	if e.shard.Count <= 1 || e.shard.Merges() {
		return nil
	}
	doc, err := json.Marshal(shardDoc{Partial: own})
	if err != nil {
		return err
	}
	return e.store.SaveState(ctx, e.stateID(), partialStateKey, doc)
}

// withoutJourneyAlerts is a shard's snapshot of its own users: the
// Journey-scoped alerts are the merging shard's to judge.
func withoutJourneyAlerts(s journey.Snapshot) journey.Snapshot {
	var alerts []journey.AlertState
	for _, a := range s.Alerts {
		if a.Scope != string(v1alpha1.AlertScopeJourney) {
			alerts = append(alerts, a)
		}
	}
	s.Alerts = alerts
	return s
}

// ownAlerts is the snapshot with each User-scoped alert's instances those
// of the evaluator's own users, as it delivers them.
func ownAlerts(s journey.Snapshot, own journey.Partial) journey.Snapshot {
	alerts := make([]journey.AlertState, 0, len(s.Alerts))
	user := 0
	for _, a := range s.Alerts {
		if a.Scope != string(v1alpha1.AlertScopeJourney) && user < len(own.Alerts) {
			a = own.Alerts[user]
			user++
		}
		alerts = append(alerts, a)
	}
	s.Alerts = alerts
	s.Feedback = nil
	return s
}
