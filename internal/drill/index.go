// Package drill is the journey map's drill-down: a JSON API under /api/v1/
// that answers from the evaluator's state (the users as the engine placed
// them, their segments and revenue) what a manager clicks on: a stage's
// users by segment, who converted or dropped off between two stages, one
// user's timeline, the users behind an alert and the values that made it
// fire, a source's exceptions, trends by week, and the revenue at risk.
package drill

import (
	"strings"
	"sync"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Source is one of the map's sources, as the index needs to know it.
type Source struct {
	Name       string // as the store names it: namespace/name
	Touchpoint string
	Financial  bool
}

// Index answers drill-downs for one journey map.
type Index struct {
	engine    *journey.Engine
	store     store.Store
	sources   []Source
	segments  []string
	financial map[string]bool // touchpoints of financial sources

	// mu guards what requests read: users, snap, risks, aux and the
	// dictionaries' values. building serialises refreshes.
	mu       sync.RWMutex
	users    *journey.Users
	snap     journey.Snapshot
	risks    map[string]float64
	aux      map[string]*userAux
	values   []*dictionary // one per segment
	asOf     time.Time
	ready    bool
	alerts   *AlertResolution
	factors  map[string][]Factor
	building sync.Mutex
}

// userAux is what the index keeps of a user besides the engine's state.
type userAux struct {
	seg []int32 // per segment: index of the value (-1: none)
	// revenue is the amount of the user's latest charge (a positive amount
	// from a financial source), in its currency: their recurring revenue.
	revenue  float64
	currency string
	// paidAt is their first charge: from then on they are a paying
	// customer until they reach the last stage. failedAt is their first
	// failed payment; a charge after it recovered it.
	paidAt, failedAt, chargedAt time.Time
}

// recovered is the revenue a failed payment of theirs did not lose.
func (a *userAux) recovered() float64 {
	if !a.failedAt.IsZero() && a.chargedAt.After(a.failedAt) {
		return a.revenue
	}
	return 0
}

type dictionary struct {
	values []string
	index  map[string]int32
}

func (d *dictionary) code(v string) int32 {
	if i, ok := d.index[v]; ok {
		return i
	}
	d.index[v] = int32(len(d.values))
	d.values = append(d.values, v)
	return int32(len(d.values) - 1)
}

// Factor is a feature that pushes a user's churn risk up: its value, and
// how much it adds to the model's logit.
type Factor struct {
	Feature string  `json:"feature"`
	Value   float64 `json:"value"`
	Push    float64 `json:"push"`
}

// SetFactors publishes each scored user's top factors (the churn model's
// explanation of their risk).
func (x *Index) SetFactors(f map[string][]Factor) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.factors = f
}

// Mutate runs fn, which changes the users SetState published, with every
// reader kept out.
func (x *Index) Mutate(fn func() error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return fn()
}

// New is an empty index; Refresh and SetState fill it.
func New(engine *journey.Engine, st store.Store, sources []Source, segments []string) *Index {
	x := &Index{engine: engine, store: st, sources: sources, segments: segments, financial: map[string]bool{},
		aux: map[string]*userAux{}}
	for _, s := range sources {
		if s.Financial {
			x.financial[s.Touchpoint] = true
		}
	}
	for range segments {
		x.values = append(x.values, &dictionary{index: map[string]int32{}})
	}
	return x
}

// SetState publishes an evaluation: the users, the snapshot and the churn
// model's scores (nil: none).
func (x *Index) SetState(users *journey.Users, snap journey.Snapshot, risks map[string]float64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.users, x.snap, x.risks, x.asOf, x.ready = users, snap, risks, snap.EvaluatedAt, true
}

// failed says whether an event type is a failed payment.
func failed(typ string) bool {
	t := strings.ToLower(typ)
	return strings.Contains(t, "fail") || strings.Contains(t, "declin")
}
