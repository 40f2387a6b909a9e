package evaluator

import (
	"context"
	"net/http"
	"net/url"

	"github.com/cjm-dev/journey-operator/internal/drill"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// newDrill is the map's drill-down, when its page is enabled: it reads
// every user's segments and revenue once when the evaluator starts, then
// only the users whose events changed. A sharded evaluation has none: no
// evaluator holds every user (its page shows the merged journey).
func newDrill(cfg runconfig.Journey, eng *journey.Engine, st store.Store, shard journey.Shard) *drill.Index {
	if d := cfg.Spec.Dashboard; (d != nil && !d.Enabled) || shard.Count > 1 {
		return nil
	}
	sources := make([]drill.Source, len(cfg.Sources))
	for i, s := range cfg.Sources {
		sources[i] = drill.Source{Name: cfg.Namespace + "/" + s.Name, Touchpoint: s.Touchpoint, Financial: s.Financial}
	}
	return drill.New(eng, st, sources, cfg.Spec.Segments)
}

// mutateUsers runs fn, which changes the users, with the drill-down's
// readers kept out.
func (e *Evaluator) mutateUsers(fn func() error) error {
	if e.drill == nil {
		return fn()
	}
	return e.drill.Mutate(fn)
}

// publishDrill hands the evaluation to the drill-down, after reading the
// segments and revenue of the users whose events changed (of every user
// after a full evaluation). A failed read leaves the drill-down on the
// previous evaluation, and is tried again at the next.
func (e *Evaluator) publishDrill(ctx context.Context, users *journey.Users, snap journey.Snapshot) {
	if e.drill == nil {
		return
	}
	if e.refreshAll || len(e.refresh) > 0 {
		var ids []string // nil: every user
		if !e.refreshAll {
			ids = e.refresh
		}
		if err := e.drill.Refresh(ctx, ids); err != nil {
			e.log.Error(err, "reading the users' segments and revenue for the drill-down")
			return
		}
		e.refresh, e.refreshAll = nil, false
	}
	e.drill.SetState(users, snap, e.risks)
}

// Drill is the evaluator's drill-down index (nil: the page is disabled).
func (e *Evaluator) Drill() *drill.Index { return e.drill }

// DrillHandler serves the drill-down API under /api/v1/.
func (e *Evaluator) DrillHandler() http.Handler { return e.drill.Handler() }

// pageSnapshot is the journey the page shows for its segment filters: the
// latest evaluation, or the drill-down's view of the users the filters
// keep.
func (e *Evaluator) pageSnapshot(filters url.Values) (journey.Snapshot, error) {
	if len(filters["segment"]) == 0 {
		return e.Last(), nil
	}
	if e.drill == nil {
		return journey.Snapshot{}, errNoDrill
	}
	f, err := e.drill.ParseFilters(filters)
	if err != nil {
		return journey.Snapshot{}, err
	}
	return e.drill.Snapshot(f)
}
