package journey

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/tidwall/gjson"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/store"
)

type compiled struct {
	name string
	prg  cel.Program
}

// Engine evaluates one journey map: compiled once, used for every user.
type Engine struct {
	env           *expr.Env
	spec          v1alpha1.JourneyMapSpec
	stages        []compiled
	userAlerts    []compiled
	journeyAlerts []compiled
	window        time.Duration

	// series are what the user helper calls of the stages and User-scoped
	// alerts look at, each with the longest window any call gives it, when
	// every call's arguments are constants (bounded). Then a user's history
	// is just those series' points within their windows; otherwise it is
	// every event of the user.
	series  []expr.Series
	bounded bool
	// decodeAll: some expression reads event.attributes, so every event's
	// attributes are decoded; else only those of touchpoints a sum series
	// reads (sumTouchpoints).
	decodeAll      bool
	sumTouchpoints map[string]bool
	// paths are the sum series' attributes as gjson paths, by series.
	paths []string
	// hash identifies what a saved user state depends on.
	hash string
	// byEventKind marks the stages whose condition reads nothing but the
	// event's touchpoint, type, source and system: its result for one
	// such combination is its result for every event of it, so it is
	// evaluated once per combination (see activation.kinds).
	byEventKind []bool
	// eventFields are the event fields the stage conditions read, all of
	// them when allEventFields.
	eventFields    map[string]bool
	allEventFields bool
	// risks are the churn model's last scores by user (user.churnRisk),
	// kept when some stage or alert reads them (readsRisk).
	risks     map[string]float64
	readsRisk bool
	// shard is the users evaluated (see SetShard).
	shard Shard
}

// ReadsChurnRisk says whether a stage or alert reads user.churnRisk.
func (e *Engine) ReadsChurnRisk() bool { return e.readsRisk }

// SetRisks gives user.churnRisk the churn model's scores: stage conditions
// read them from the next events evaluated, User-scoped alerts from the
// next snapshot. Not safe to call during an evaluation.
func (e *Engine) SetRisks(r map[string]float64) { e.risks = r }

// eventKindFields are the event fields with few distinct values.
var eventKindFields = map[string]bool{"touchpoint": true, "type": true, "source": true, "system": true}

// NewEngine compiles a map's stages and alerts with the shared environment.
func NewEngine(env *expr.Env, spec v1alpha1.JourneyMapSpec) (*Engine, error) {
	if len(spec.Stages) > 64 {
		return nil, fmt.Errorf("a journey map has at most 64 stages, this one %d", len(spec.Stages))
	}
	e := &Engine{env: env, spec: spec, window: 336 * time.Hour, bounded: true, sumTouchpoints: map[string]bool{},
		eventFields: map[string]bool{}, shard: Unsharded}
	if spec.ConversionWindow != nil {
		e.window = spec.ConversionWindow.Duration
	}
	footprint := func(c expr.Context, src string) error {
		f, err := env.Footprint(c, src)
		if err != nil {
			return err
		}
		e.readsRisk = e.readsRisk || f.ChurnRisk
		if c == expr.StageCondition {
			kind := !f.User && !f.AllEventFields
			for field := range f.EventFields {
				kind = kind && eventKindFields[field]
			}
			e.byEventKind = append(e.byEventKind, kind)
			e.allEventFields = e.allEventFields || f.AllEventFields
			for field := range f.EventFields {
				e.eventFields[field] = true
			}
		}
		e.bounded = e.bounded && f.Bounded
		e.decodeAll = e.decodeAll || f.AllEventFields || f.EventFields["attributes"]
		for _, s := range f.Series {
			e.addSeries(s)
		}
		return nil
	}
	for _, s := range spec.Stages {
		prg, err := env.Program(expr.StageCondition, string(s.EnterWhen))
		if err == nil {
			err = footprint(expr.StageCondition, string(s.EnterWhen))
		}
		if err != nil {
			return nil, fmt.Errorf("stage %s enterWhen: %w", s.Name, err)
		}
		e.stages = append(e.stages, compiled{s.Name, prg})
	}
	for _, a := range spec.Alerts {
		ctx, dst := expr.UserAlert, &e.userAlerts
		if a.Scope == v1alpha1.AlertScopeJourney {
			ctx, dst = expr.JourneyAlert, &e.journeyAlerts
		}
		prg, err := env.Program(ctx, string(a.Expression))
		if err == nil && ctx == expr.UserAlert {
			err = footprint(ctx, string(a.Expression))
		}
		if err != nil {
			return nil, fmt.Errorf("alert %s expression: %w", a.Name, err)
		}
		*dst = append(*dst, compiled{a.Name, prg})
	}
	if !e.bounded {
		e.series = nil
	}
	e.paths = make([]string, len(e.series))
	for i, s := range e.series {
		if s.Attribute != "" {
			e.sumTouchpoints[s.Touchpoint] = true
			e.paths[i] = gjson.Escape(s.Attribute)
		}
	}
	doc, _ := json.Marshal(struct {
		Version int
		Stages  []v1alpha1.Stage
		Alerts  []v1alpha1.Alert
		Series  []expr.Series
	}{stateVersion, spec.Stages, spec.Alerts, e.series})
	sum := sha256.Sum256(doc)
	e.hash = hex.EncodeToString(sum[:])
	return e, nil
}

func (e *Engine) addSeries(s expr.Series) {
	for i, have := range e.series {
		if have.Touchpoint == s.Touchpoint && have.Type == s.Type && have.Attribute == s.Attribute {
			e.series[i].Window = max(have.Window, s.Window)
			return
		}
	}
	e.series = append(e.series, s)
}

// seriesIndex finds a series; -1 matches no point.
func (e *Engine) seriesIndex(touchpoint, eventType, attribute string) int32 {
	for i, s := range e.series {
		if s.Touchpoint == touchpoint && s.Type == eventType && s.Attribute == attribute {
			return int32(i)
		}
	}
	return -1
}

// Persistent says whether a user's state is complete without their events,
// so that it can be saved and evaluation go on from it after a restart:
// true when every helper call is bounded.
func (e *Engine) Persistent() bool { return e.bounded }

// StateHash identifies what saved user states depend on: the stages,
// alerts and the series kept. States saved under another hash are stale.
func (e *Engine) StateHash() string { return e.hash }

// attributes says what the engine reads of the attributes of an event of
// the touchpoint: nothing, the numbers of its sum series (from the JSON as
// read, raw), or everything (decoded into Event.Attributes) when an
// expression reads event.attributes or the history keeps whole events.
func (e *Engine) attributes(touchpoint string) (decode, raw bool) {
	if e.decodeAll || !e.bounded {
		return true, false
	}
	return false, e.sumTouchpoints[touchpoint]
}

// advance evaluates a user's events, in time order and all newer than the
// ones evaluated before. At each event the user helpers answer as of that
// event's time. Stages only move forward: an event moves the user to the
// last stage after the current one whose enterWhen holds for it; a stage
// counts as entered (for the funnel) the first time its enterWhen holds,
// whatever stage the user is in: a trial user who streams a lot is Engaged
// before paying, and still converts to Subscribed at the first paid
// invoice. A condition that cannot be evaluated for an event (a missing
// attribute, say) does not hold.
//
// raws, when not nil, are the events' attributes as read, for the series
// to take their numbers from without decoding the rest; vals, when not nil,
// are those numbers already taken (see record).
func (e *Engine) advance(u *UserState, events []store.Event, raws [][]byte, vals [][]float64, act *activation) {
	ph := &pointHistory{e: e}
	eh := &eventHistory{}
	for i := range events {
		ev := &events[i]
		at := ev.OccurredAt.UnixNano()
		var raw []byte
		var v []float64
		if raws != nil {
			raw = raws[i]
		}
		if vals != nil {
			v = vals[i]
		}
		e.record(u, ev, raw, v, at)
		var h expr.UserHistory
		if e.bounded {
			ph.points, ph.asOf = u.points, at
			h = ph
		} else {
			eh.events, eh.asOf = u.events, ev.OccurredAt
			h = eh
		}
		act.bind(ev)
		act.user.Bind(u.Stage(), u.EnteredAt(), h)
		act.user.ChurnRisk = e.risks[u.User]
		cur := u.stage
		next := cur
		for j := range e.stages {
			bit := uint64(1) << j
			if u.reached&bit != 0 && j <= cur {
				continue
			}
			if !e.holds(j, act) {
				continue
			}
			if u.reached&bit == 0 {
				u.reached |= bit
				u.entered[j] = at
			}
			next = max(next, j)
		}
		if next > cur {
			u.stage, u.enteredAt = next, at
			u.path |= 1 << next
		}
		u.last = at
	}
	act.bind(nil)
	e.prune(u)
}

// holds evaluates stage j's condition for the bound event and user.
func (e *Engine) holds(j int, act *activation) bool {
	if !e.byEventKind[j] {
		out, _, err := e.stages[j].prg.Eval(act)
		return err == nil && out == types.True
	}
	k := act.kindOf()
	results := act.results[j]
	if k < len(results) && results[k] != 0 {
		return results[k] == 2
	}
	out, _, err := e.stages[j].prg.Eval(act)
	v := err == nil && out == types.True
	if k >= len(results) {
		results = append(results, make([]uint8, k+1-len(results))...)
		act.results[j] = results
	}
	results[k] = 1
	if v {
		results[k] = 2
	}
	return v
}

// record adds an event to the user's history. A sum series takes its
// number from vals when given (the touchpoint's sum series' numbers, in
// series order, NaN for none), else from raw when given, else from the
// decoded attributes.
func (e *Engine) record(u *UserState, ev *store.Event, raw []byte, vals []float64, at int64) {
	if ev.Touchpoint == FeedbackTouchpoint {
		u.responded = max(u.responded, at)
	}
	if !e.bounded {
		u.events = append(u.events, *ev)
		return
	}
	for i, s := range e.series {
		if s.Touchpoint != ev.Touchpoint {
			continue
		}
		switch {
		case s.Type != "" && s.Type == ev.Type:
			u.points = append(u.points, point{at: at, series: int32(i)})
		case s.Attribute != "" && vals != nil:
			if v := vals[0]; !math.IsNaN(v) {
				u.points = append(u.points, point{at: at, series: int32(i), val: v})
			}
			vals = vals[1:]
		case s.Attribute != "" && raw != nil:
			if r := gjson.GetBytes(raw, e.paths[i]); r.Type == gjson.Number {
				u.points = append(u.points, point{at: at, series: int32(i), val: r.Num})
			}
		case s.Attribute != "":
			if v, ok := number(ev.Attributes[s.Attribute]); ok {
				u.points = append(u.points, point{at: at, series: int32(i), val: v})
			}
		}
	}
}

// prune drops the points no helper can see again: those a series' window
// back from the user's newest event has passed.
func (e *Engine) prune(u *UserState) {
	keep := u.points[:0]
	for _, p := range u.points {
		if p.at > u.last-int64(e.series[p.series].Window) {
			keep = append(keep, p)
		}
	}
	clear(u.points[len(keep):])
	u.points = keep
	// A user's history may have been long; what is kept of it is short and
	// stays in memory as long as the user: let the long array go.
	if cap(keep) > 2*len(keep)+4 {
		u.points = slices.Clone(keep)
	}
}
