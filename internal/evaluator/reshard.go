package evaluator

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/notify"
)

// When a map's number of shards changes, users move between shards. Each
// layout of shards keeps its own state, so an evaluator of a new layout
// takes, for its users, what the previous layout's evaluators kept: since
// when each alert has held (so `for` goes on and a firing alert does not
// fall back to pending) and whom each survey went to and when (so nobody
// is surveyed again within the cooldown). Their users' states are
// evaluated anew from the events. Layouts are numbered by generation: a
// map that comes back to a number of shards it had before starts a new
// generation, with state of its own, rather than the stale state of the
// old one. The merging shard records the current layout and the one
// before it in the map's own state; the other shards of a new layout work
// out the same generation before it has.

// layoutStateKey is where the map's layouts are recorded, under its id.
const layoutStateKey = "layout"

// layout is a number of shards in one generation.
type layout struct {
	Shards     int `json:"shards"`
	Generation int `json:"generation"`
}

// layoutDoc: Current is the layout the merging shard last recorded;
// Previous the one before it.
type layoutDoc struct {
	Current  layout  `json:"current"`
	Previous *layout `json:"previous,omitempty"`
}

// stateIDOf is where shard s of the map with id keeps its state in
// generation gen. One shard in the first generation keeps the map's id,
// as before layouts were recorded.
func stateIDOf(id string, s journey.Shard, gen int) string {
	if s.Count <= 1 && gen == 0 {
		return id
	}
	out := id + "#shard-" + s.String()
	if gen > 0 {
		out += "@" + strconv.Itoa(gen)
	}
	return out
}

// loadLayouts reads the map's layouts; a map evaluated before layouts
// were recorded had one shard, in generation 0.
func (e *Evaluator) loadLayouts(ctx context.Context) (layoutDoc, error) {
	l := layoutDoc{Current: layout{Shards: 1}}
	doc, err := e.store.LoadState(ctx, e.id(), layoutStateKey)
	if err != nil || doc == nil {
		return l, err
	}
	if err := json.Unmarshal(doc, &l); err != nil {
		return l, fmt.Errorf("layouts of %s: %w", e.id(), err)
	}
	return l, nil
}

// resolveLayout is this evaluator's generation and the layout before its
// own (nil: none).
func (e *Evaluator) resolveLayout(ctx context.Context) (int, *layout, error) {
	l, err := e.loadLayouts(ctx)
	if err != nil {
		return 0, nil, err
	}
	if l.Current.Shards == e.shard.Count {
		return l.Current.Generation, l.Previous, nil
	}
	return l.Current.Generation + 1, &l.Current, nil
}

// recordLayout records this evaluator's layout as current when it is new;
// the merging shard's to do.
func (e *Evaluator) recordLayout(ctx context.Context) error {
	if !e.shard.Merges() {
		return nil
	}
	l, err := e.loadLayouts(ctx)
	if err != nil || l.Current.Shards == e.shard.Count {
		return err
	}
	doc, err := json.Marshal(layoutDoc{Current: layout{Shards: e.shard.Count, Generation: l.Current.Generation + 1}, Previous: &l.Current})
	if err != nil {
		return err
	}
	return e.store.SaveState(ctx, e.id(), layoutStateKey, doc)
}

// layoutDocs are the documents under key of every shard of a layout.
func (e *Evaluator) layoutDocs(ctx context.Context, l layout, key string) ([][]byte, error) {
	var out [][]byte
	for k := range l.Shards {
		doc, err := e.store.LoadState(ctx, stateIDOf(e.id(), journey.Shard{Index: k, Count: l.Shards}, l.Generation), key)
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
func (e *Evaluator) inheritAlerts(ctx context.Context, prev layout) (journey.AlertMemory, error) {
	docs, err := e.layoutDocs(ctx, prev, alertStateKey)
	if err != nil {
		return nil, err
	}
	mem := journey.AlertMemory{}
	for _, doc := range docs {
		var m journey.AlertMemory
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("alert state of the previous %d shards: %w", prev.Shards, err)
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
func (e *Evaluator) inheritCooldowns(ctx context.Context, prev layout, c *notify.Cooldown) error {
	docs, err := e.layoutDocs(ctx, prev, cooldownStateKey)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		old := notify.NewCooldown()
		if err := old.Import(doc); err != nil {
			return fmt.Errorf("survey cooldowns of the previous %d shards: %w", prev.Shards, err)
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
