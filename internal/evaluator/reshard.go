package evaluator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/notify"
)

// When a map's number of shards changes, users move between shards. Each
// layout keeps its own state, so an evaluator of the new layout that finds
// none of its own takes, for its users, what the previous layout's
// evaluators kept: since when each alert has held (so `for` goes on and a
// firing alert does not fall back to pending) and whom each survey went to
// and when (so nobody is surveyed again within the cooldown). Their users'
// states are evaluated anew from the events. The merging shard records
// which layout is current, and which was before, in the map's own state.

// layoutStateKey is where the map's layouts are recorded, under its id.
const layoutStateKey = "layout"

// layoutDoc: Current is the layout the merging shard last ran; Previous
// the one before it.
type layoutDoc struct {
	Current  int `json:"current"`
	Previous int `json:"previous,omitempty"`
}

// previousLayout is the number of shards of the layout before this
// evaluator's, 0 when there was none. A map evaluated before layouts were
// recorded had one shard.
func (e *Evaluator) previousLayout(ctx context.Context) (int, error) {
	doc, err := e.store.LoadState(ctx, e.id(), layoutStateKey)
	if err != nil {
		return 0, err
	}
	l := layoutDoc{Current: 1}
	if doc != nil {
		if err := json.Unmarshal(doc, &l); err != nil {
			return 0, fmt.Errorf("layouts of %s: %w", e.id(), err)
		}
	}
	prev := l.Current
	if prev == e.shard.Count {
		prev = l.Previous
	}
	if prev == e.shard.Count {
		return 0, nil
	}
	return prev, nil
}

// recordLayout notes this evaluator's layout as current, once it has
// taken over from the previous one; the merging shard's to do.
func (e *Evaluator) recordLayout(ctx context.Context, prev int) error {
	if !e.shard.Merges() {
		return nil
	}
	doc, err := e.store.LoadState(ctx, e.id(), layoutStateKey)
	if err != nil {
		return err
	}
	var l layoutDoc
	if doc != nil {
		if err := json.Unmarshal(doc, &l); err != nil {
			return fmt.Errorf("layouts of %s: %w", e.id(), err)
		}
	}
	if l.Current == e.shard.Count {
		return nil
	}
	doc, err = json.Marshal(layoutDoc{Current: e.shard.Count, Previous: prev})
	if err != nil {
		return err
	}
	return e.store.SaveState(ctx, e.id(), layoutStateKey, doc)
}

// layoutDocs are the documents under key of every shard of a layout.
func (e *Evaluator) layoutDocs(ctx context.Context, shards int, key string) ([][]byte, error) {
	var out [][]byte
	for k := range shards {
		doc, err := e.store.LoadState(ctx, shardStateID(e.id(), journey.Shard{Index: k, Count: shards}), key)
		if err != nil {
			return nil, err
		}
		if doc != nil {
			out = append(out, doc)
		}
	}
	return out, nil
}

// inheritAlerts is the alert memory of the evaluator's users (and, for the
// merging shard, of the Journey-scoped alerts) in the previous layout.
func (e *Evaluator) inheritAlerts(ctx context.Context, prev int) (journey.AlertMemory, error) {
	docs, err := e.layoutDocs(ctx, prev, alertStateKey)
	if err != nil {
		return nil, err
	}
	mem := journey.AlertMemory{}
	for _, doc := range docs {
		var m journey.AlertMemory
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("alert state of the previous %d shards: %w", prev, err)
		}
		for key, since := range m {
			_, user, perUser := strings.Cut(key, "/")
			if (perUser && e.shard.Owns(user)) || (!perUser && e.shard.Merges()) {
				mem[key] = since
			}
		}
	}
	return mem, nil
}

// inheritCooldowns records in c whom the previous layout surveyed among
// the evaluator's users, and when.
func (e *Evaluator) inheritCooldowns(ctx context.Context, prev int, c *notify.Cooldown) error {
	docs, err := e.layoutDocs(ctx, prev, cooldownStateKey)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		old := notify.NewCooldown()
		if err := old.Import(doc); err != nil {
			return fmt.Errorf("survey cooldowns of the previous %d shards: %w", prev, err)
		}
		for _, t := range e.cfg.Spec.Feedback {
			for user, at := range old.Sent(t.Name) {
				if e.shard.Owns(user) {
					c.Record(t.Name, user, at)
				}
			}
		}
	}
	return nil
}
