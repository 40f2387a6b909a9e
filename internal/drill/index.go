// Package drill is the journey map's drill-down: a JSON API under /api/v1/
// that answers from the evaluator's state (the users as the engine placed
// them, their segments and revenue) what a manager clicks on: a stage's
// users by segment, who converted or dropped off between two stages, one
// user's timeline, the users behind an alert and the values that made it
// fire, a source's exceptions, trends by week, and the revenue at risk.
package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	building sync.Mutex
}

// userAux is what the index keeps of a user besides the engine's state.
type userAux struct {
	seg []int32 // per segment: index of the value (-1: none)
	// Revenue is the amount of the user's latest charge (a positive amount
	// from a financial source), in its currency: their recurring revenue.
	revenue  float64
	currency string
	// failedAt is when a payment of theirs first failed (an event of a
	// financial source whose type says it failed); recovered the amount of
	// their first charge after it.
	failedAt  time.Time
	recovered float64
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

// Refresh reads the segments and revenue of the given users (nil: every
// user) from the store: the evaluator calls it with the users whose events
// changed.
func (x *Index) Refresh(ctx context.Context, users []string) error {
	if users != nil && len(users) == 0 {
		return nil
	}
	x.building.Lock()
	defer x.building.Unlock()
	names := make([]string, len(x.sources))
	for i, s := range x.sources {
		names[i] = s.Name
	}
	type read struct {
		aux    *userAux
		values []string // per segment, "" none
	}
	fresh := map[string]*read{}
	intern := map[string]string{}
	var cur *read
	var curUser string
	// Decoding attributes is the cost here; only events carrying a
	// segment's key need it.
	err := x.store.ScanEvents(ctx, store.EventQuery{Sources: names, Users: users, Lean: true}, func(ev *store.Event, attrs []byte) error {
		if ev.UserID != curUser || cur == nil {
			curUser = strings.Clone(ev.UserID)
			cur = &read{aux: &userAux{}, values: make([]string, len(x.segments))}
			fresh[curUser] = cur
		}
		if len(attrs) > 0 && len(x.segments) > 0 {
			x.readSegments(cur.values, attrs, intern)
		}
		a := cur.aux
		if !x.financial[ev.Touchpoint] {
			return nil
		}
		if failed(ev.Type) {
			if a.failedAt.IsZero() {
				a.failedAt = ev.OccurredAt
			}
			return nil
		}
		if ev.Amount != nil && *ev.Amount > 0 {
			a.revenue, a.currency = *ev.Amount, intern1(intern, ev.Currency)
			if !a.failedAt.IsZero() && a.recovered == 0 && ev.OccurredAt.After(a.failedAt) {
				a.recovered = *ev.Amount
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the users' segments and revenue: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if users == nil {
		x.aux = make(map[string]*userAux, len(fresh))
	}
	for u, r := range fresh {
		r.aux.seg = make([]int32, len(x.segments))
		for i, v := range r.values {
			r.aux.seg[i] = -1
			if v != "" {
				r.aux.seg[i] = x.values[i].code(v)
			}
		}
		x.aux[u] = r.aux
	}
	return nil
}

// readSegments keeps the latest value of each segment attribute an event
// carries.
func (x *Index) readSegments(values []string, attrs []byte, intern map[string]string) {
	var m map[string]any
	for i, s := range x.segments {
		if !bytes.Contains(attrs, []byte(`"`+s+`"`)) {
			continue
		}
		if m == nil && json.Unmarshal(attrs, &m) != nil {
			return
		}
		if v, ok := m[s]; ok && v != nil {
			values[i] = intern1(intern, fmt.Sprint(v))
		}
	}
}

// intern1 keeps one copy of each string a refresh reads.
func intern1(intern map[string]string, s string) string {
	if v, ok := intern[s]; ok {
		return v
	}
	s = strings.Clone(s)
	intern[s] = s
	return s
}

// failed says whether an event type is a failed payment.
func failed(typ string) bool {
	t := strings.ToLower(typ)
	return strings.Contains(t, "fail") || strings.Contains(t, "declin")
}
