package journey

import (
	"context"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// ReadSourceStates fills in, from the store, what each of a map's sources
// holds for review and its last run. sources name them within namespace.
func ReadSourceStates(ctx context.Context, st store.Store, namespace string, sources []SourceState) ([]SourceState, error) {
	out := make([]SourceState, len(sources))
	pending, err := st.Pending(ctx, nil)
	if err != nil {
		return nil, err
	}
	for i, s := range sources {
		id := namespace + "/" + s.Name
		if p, ok := pending[id]; ok {
			s.Pending, s.OldestPending = p.Pending, p.Oldest
		}
		runs, err := st.Runs(ctx, id, 1)
		if err != nil {
			return nil, err
		}
		if len(runs) == 1 {
			r := runs[0]
			s.LastRun = &RunState{ID: r.ID, Outcome: r.Outcome, Message: r.Message, FinishedAt: r.FinishedAt,
				Read: r.Read, Accepted: r.Accepted, Duplicates: r.Duplicates, Quarantined: r.Quarantined, Rejected: r.Rejected}
		}
		out[i] = s
	}
	return out, nil
}
