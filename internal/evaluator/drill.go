package evaluator

import (
	"context"
	"net/http"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

// publishDrill hands the evaluation to the drill-down, after reading the
// segments and revenue of the users whose events changed (of every user
// after a full evaluation). A failed read leaves the drill-down on the
// previous evaluation, and is tried again at the next.
func (e *Evaluator) publishDrill(ctx context.Context, users *journey.Users, snap journey.Snapshot) {
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

// DrillHandler serves the drill-down API under /api/v1/.
func (e *Evaluator) DrillHandler() http.Handler { return e.drill.Handler() }
