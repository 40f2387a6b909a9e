package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// CheckRetention holds a record whose event occurred before the store's
// retention horizon: its month was retired by policy, and the store
// refuses it. Held, not dropped, so that a reviewer sees it (and a
// financial one is discarded with a ledger entry, not lost).
const CheckRetention = "retention"

// horizonTTL is how long a pipeline trusts the horizon it read. A
// retirement moves it rarely; until a pipeline sees the new one, a commit
// of an event it retired fails whole (store.RetiredError) and is retried,
// and the retry holds the event.
const horizonTTL = 30 * time.Second

type horizonCache struct {
	mu      sync.Mutex
	horizon time.Time
	read    time.Time
}

func (h *horizonCache) get(ctx context.Context, st store.Store, now time.Time) (time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.read.IsZero() && now.Sub(h.read) < horizonTTL && now.After(h.read) {
		return h.horizon, nil
	}
	t, err := st.Horizon(ctx)
	if err != nil {
		return time.Time{}, err
	}
	h.horizon, h.read = t, now
	return t, nil
}

// holdRetired holds the candidates whose event occurred before the store's
// retention horizon, and returns the others.
func (p *Pipeline) holdRetired(ctx context.Context, st store.Store, runID string, now time.Time, res *Result, cands []*candidate) ([]*candidate, error) {
	horizon, err := p.horizon.get(ctx, st, time.Now())
	if err != nil || horizon.IsZero() {
		return cands, err
	}
	kept := cands[:0]
	for _, c := range cands {
		if !c.ev.OccurredAt.Before(horizon) {
			kept = append(kept, c)
			continue
		}
		res.quarantine(p.id, runID, now, c.ev.EventID, CheckRetention, fmt.Sprintf("occurred at %s, before the store's retention horizon %s: that month's events were retired by policy",
			c.ev.OccurredAt.UTC().Format(time.RFC3339), horizon.Format(time.RFC3339)), rawOf(c.sent, c.sentFn, c.raw))
		held := c.ev
		res.Quarantine[len(res.Quarantine)-1].Event = &held
		res.Failed[CheckRetention]++
	}
	return kept, nil
}
