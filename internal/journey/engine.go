package journey

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/store"
)

type compiled struct {
	name string
	prg  cel.Program
}

// Engine evaluates one journey map: compiled once, used for every user.
type Engine struct {
	spec          v1alpha1.JourneyMapSpec
	stages        []compiled
	userAlerts    []compiled
	journeyAlerts []compiled
	window        time.Duration
}

// NewEngine compiles a map's stages and alerts with the shared environment.
func NewEngine(env *expr.Env, spec v1alpha1.JourneyMapSpec) (*Engine, error) {
	e := &Engine{spec: spec, window: 336 * time.Hour}
	if spec.ConversionWindow != nil {
		e.window = spec.ConversionWindow.Duration
	}
	for _, s := range spec.Stages {
		prg, err := env.Program(expr.StageCondition, string(s.EnterWhen))
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
		if err != nil {
			return nil, fmt.Errorf("alert %s expression: %w", a.Name, err)
		}
		*dst = append(*dst, compiled{a.Name, prg})
	}
	return e, nil
}

// Move is one user's move between stages.
type Move struct {
	From, To string
	At       time.Time
}

// UserState is one user's place in the journey.
type UserState struct {
	User string
	// Stage is the last stage, in spec order, whose enterWhen held at one of
	// the user's events ("" when none did); EnteredAt when it did first.
	Stage     string
	EnteredAt time.Time
	// Entered maps each stage the user reached to when.
	Entered map[string]time.Time
	Moves   []Move
	// Events are the user's events in time order, for the user helpers.
	Events []store.Event
}

// EvaluateUser walks one user's events in time order. At each event the
// user helpers answer as of that event's time. Stages only move forward: an
// event moves the user to the last stage after the current one whose
// enterWhen holds for it; a stage counts as entered (for the funnel) the
// first time its enterWhen holds. A condition that cannot be evaluated for an event
// (a missing attribute, say) does not hold.
func (e *Engine) EvaluateUser(user string, events []store.Event) *UserState {
	sort.SliceStable(events, func(i, j int) bool { return events[i].OccurredAt.Before(events[j].OccurredAt) })
	u := &UserState{User: user, Entered: map[string]time.Time{}, Events: events}
	cur := -1
	for i, ev := range events {
		vars := map[string]any{
			"event": pipeline.EventVars(ev),
			"user":  expr.NewUser(u.Stage, u.EnteredAt, &History{Events: events[:i+1], AsOf: ev.OccurredAt}),
		}
		// A stage is entered (for the funnel) the first time its condition
		// holds, whatever stage the user is in: a trial user who streams a
		// lot is Engaged before paying, and still converts to Subscribed at
		// the first paid invoice. The user's stage moves forward only, to
		// the last stage whose condition holds.
		next := cur
		for j := range e.stages {
			if _, seen := u.Entered[e.stages[j].name]; seen && j <= cur {
				continue
			}
			out, _, err := e.stages[j].prg.Eval(vars)
			if err != nil || out != types.True {
				continue
			}
			if _, seen := u.Entered[e.stages[j].name]; !seen {
				u.Entered[e.stages[j].name] = ev.OccurredAt
			}
			if j > next {
				next = j
			}
		}
		if next > cur {
			u.Moves = append(u.Moves, Move{From: u.Stage, To: e.stages[next].name, At: ev.OccurredAt})
			u.Stage, u.EnteredAt = e.stages[next].name, ev.OccurredAt
			cur = next
		}
	}
	return u
}

// AlertMemory remembers, per alert instance ("alert" or "alert/user"), since
// when its expression has held, so `for` survives between evaluations (and,
// persisted by the caller, restarts).
type AlertMemory map[string]time.Time

// Snapshot counts the users, evaluates the alerts as of now and returns what
// the evaluation found, with the alert memory to keep for the next one.
func (e *Engine) Snapshot(namespace, name string, users []*UserState, now time.Time, mem AlertMemory) (Snapshot, AlertMemory) {
	s := Snapshot{Namespace: namespace, Name: name, EvaluatedAt: now, Users: int64(len(users))}
	inStage := map[string]int64{}
	moves := map[[2]string]int64{}
	for _, u := range users {
		if u.Stage != "" {
			inStage[u.Stage]++
		}
		for _, m := range u.Moves {
			moves[[2]string{m.From, m.To}]++
		}
	}
	last := ""
	if n := len(e.spec.Stages); n > 0 {
		last = e.spec.Stages[n-1].Name
	}
	for _, st := range e.spec.Stages {
		var entered, churned int64
		for _, u := range users {
			if at, ok := u.Entered[st.Name]; ok {
				entered++
				if ct, ok := u.Entered[last]; ok && st.Name != last && !ct.Before(at) {
					churned++
				}
			}
		}
		sc := StageCount{Name: st.Name, Description: st.Description, Users: inStage[st.Name]}
		if entered > 0 && st.Name != last {
			sc.ChurnRate = float64(churned) / float64(entered)
		}
		s.Stages = append(s.Stages, sc)
	}
	for k, n := range moves {
		s.Transitions = append(s.Transitions, Transition{From: k[0], To: k[1], Users: n})
	}
	sort.Slice(s.Transitions, func(i, j int) bool {
		a, b := s.Transitions[i], s.Transitions[j]
		if a.From != b.From {
			return e.stageIndex(a.From) < e.stageIndex(b.From)
		}
		return e.stageIndex(a.To) < e.stageIndex(b.To)
	})
	for i := 0; i+1 < len(e.spec.Stages); i++ {
		s.Funnel = append(s.Funnel, e.conversion(users, e.spec.Stages[i].Name, e.spec.Stages[i+1].Name))
	}

	next := AlertMemory{}
	stats := journeyStats{snap: &s, users: users, engine: e}
	for _, a := range e.spec.Alerts {
		st := AlertState{Name: a.Name, Scope: string(a.Scope), Severity: a.Severity, Labels: a.Labels, Annotations: a.Annotations}
		var hold time.Duration
		if a.For != nil {
			hold = a.For.Duration
		}
		judge := func(key, user string, holds bool) {
			if !holds {
				return
			}
			since, ok := mem[key]
			if !ok {
				since = now
			}
			next[key] = since
			if now.Sub(since) >= hold {
				st.Firing++
				st.Instances = append(st.Instances, AlertInstance{User: user, ActiveAt: since, FiredAt: since.Add(hold)})
			} else {
				st.Pending++
			}
		}
		if a.Scope == v1alpha1.AlertScopeJourney {
			prg := e.find(e.journeyAlerts, a.Name)
			out, _, err := prg.Eval(map[string]any{"journey": expr.NewJourney(stats)})
			judge(a.Name, "", err == nil && out == types.True)
		} else {
			prg := e.find(e.userAlerts, a.Name)
			for _, u := range users {
				out, _, err := prg.Eval(map[string]any{"user": expr.NewUser(u.Stage, u.EnteredAt, &History{Events: u.Events, AsOf: now})})
				judge(a.Name+"/"+u.User, u.User, err == nil && out == types.True)
			}
		}
		s.Alerts = append(s.Alerts, st)
	}
	return s, next
}

func (e *Engine) find(list []compiled, name string) cel.Program {
	for _, c := range list {
		if c.name == name {
			return c.prg
		}
	}
	return nil
}

func (e *Engine) stageIndex(name string) int {
	for i, s := range e.spec.Stages {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// conversion is the share of users who entered from and then entered to
// within the conversion window.
func (e *Engine) conversion(users []*UserState, from, to string) FunnelStep {
	f := FunnelStep{From: from, To: to}
	var waits []time.Duration
	for _, u := range users {
		start, ok := u.Entered[from]
		if !ok {
			continue
		}
		f.Entered++
		if end, ok := u.Entered[to]; ok && !end.Before(start) && end.Sub(start) <= e.window {
			f.Converted++
			waits = append(waits, end.Sub(start))
		}
	}
	f.DropOff = f.Entered - f.Converted
	if f.Entered > 0 {
		f.Rate = float64(f.Converted) / float64(f.Entered)
	}
	if len(waits) > 0 {
		sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
		f.MedianTimeToConvert = waits[len(waits)/2]
	}
	return f
}

// journeyStats answers journey.users and journey.conversion for
// Journey-scoped alerts.
type journeyStats struct {
	snap   *Snapshot
	users  []*UserState
	engine *Engine
}

func (j journeyStats) Users(stage string) int64 {
	for _, s := range j.snap.Stages {
		if strings.EqualFold(s.Name, stage) {
			return s.Users
		}
	}
	return 0
}

func (j journeyStats) Conversion(from, to string) float64 {
	return j.engine.conversion(j.users, from, to).Rate
}

// History answers the user helpers from a user's events as of a time:
// events after AsOf do not count, windows reach back from AsOf.
type History struct {
	Events []store.Event
	AsOf   time.Time
}

func (h *History) in(e store.Event, from, to time.Duration) bool {
	return e.OccurredAt.After(h.AsOf.Add(-from)) && !e.OccurredAt.After(h.AsOf.Add(-to))
}

// Count counts events of a touchpoint and type within window.
func (h *History) Count(touchpoint, eventType string, window time.Duration) int64 {
	var n int64
	for _, e := range h.Events {
		if e.Touchpoint == touchpoint && e.Type == eventType && h.in(e, window, 0) {
			n++
		}
	}
	return n
}

// Sum adds up a numeric attribute of a touchpoint's events within window.
func (h *History) Sum(touchpoint, attribute string, window time.Duration) float64 {
	return h.SumBetween(touchpoint, attribute, window, 0)
}

// SumBetween adds it up between from and to ago (from > to).
func (h *History) SumBetween(touchpoint, attribute string, from, to time.Duration) float64 {
	var sum float64
	for _, e := range h.Events {
		if e.Touchpoint != touchpoint || !h.in(e, from, to) {
			continue
		}
		switch v := e.Attributes[attribute].(type) {
		case float64:
			sum += v
		case int64:
			sum += float64(v)
		case int:
			sum += float64(v)
		}
	}
	return sum
}

// EvaluateStore evaluates every user of the sources' events in the store.
func (e *Engine) EvaluateStore(ctx context.Context, st store.Store, sources []string) ([]*UserState, error) {
	var users []*UserState
	var cur []store.Event
	flush := func() {
		if len(cur) > 0 {
			users = append(users, e.EvaluateUser(cur[0].UserID, cur))
			cur = nil
		}
	}
	err := st.Events(ctx, sources, func(ev store.Event) error {
		if len(cur) > 0 && cur[0].UserID != ev.UserID {
			flush()
		}
		cur = append(cur, ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	flush()
	return users, nil
}

// Replay evaluates as a running evaluator would have over the longest
// alert `for` before asOf, at the map's evaluation interval, so a one-shot
// evaluation (`journey run`) reports what would be firing by then.
func (e *Engine) Replay(namespace, name string, users []*UserState, asOf time.Time) Snapshot {
	interval := 5 * time.Minute
	if e.spec.EvaluationInterval != nil && e.spec.EvaluationInterval.Duration > 0 {
		interval = e.spec.EvaluationInterval.Duration
	}
	var longest time.Duration
	for _, a := range e.spec.Alerts {
		if a.For != nil && a.For.Duration > longest {
			longest = a.For.Duration
		}
	}
	var mem AlertMemory
	for t := asOf.Add(-longest); t.Before(asOf); t = t.Add(interval) {
		_, mem = e.Snapshot(namespace, name, users, t, mem)
	}
	s, _ := e.Snapshot(namespace, name, users, asOf, mem)
	return s
}
