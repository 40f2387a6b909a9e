package journey

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
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
		eventFields: map[string]bool{}}
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

// AlertMemory remembers, per alert instance ("alert" or "alert/user"), since
// when its expression has held, so `for` survives between evaluations (and,
// persisted by the caller, restarts).
type AlertMemory map[string]time.Time

// Shape is a snapshot without the alerts: the users in each stage, their
// moves and the funnel.
func (e *Engine) Shape(namespace, name string, us *Users, now time.Time) Snapshot {
	return e.ShapeWhere(namespace, name, us, nil, now)
}

// ShapeWhere is the shape of the users keep selects by their position in
// us (nil: all): the journey as a segment of the users sees it, for the
// drill-down.
func (e *Engine) ShapeWhere(namespace, name string, us *Users, keep func(int) bool, now time.Time) Snapshot {
	s := Snapshot{Namespace: namespace, Name: name, EvaluatedAt: now}
	n := len(e.stages)
	inStage := make([]int64, n)
	entered := make([]int64, n)
	churned := make([]int64, n)
	moves := make([]int64, (n+1)*n) // [from+1][to]
	var lastBit uint64
	if n > 0 {
		lastBit = 1 << (n - 1)
	}
	for i := range us.list {
		u := &us.list[i]
		if keep != nil && !keep(i) {
			continue
		}
		s.Users++
		if u.stage >= 0 {
			inStage[u.stage]++
		}
		from := -1
		for p := u.path; p != 0; p &= p - 1 {
			to := bits.TrailingZeros64(p)
			moves[(from+1)*n+to]++
			from = to
		}
		for j := 0; j < n; j++ {
			if u.reached&(1<<j) == 0 {
				continue
			}
			entered[j]++
			if j < n-1 && u.reached&lastBit != 0 && u.entered[n-1] >= u.entered[j] {
				churned[j]++
			}
		}
	}
	for j, st := range e.spec.Stages {
		sc := StageCount{Name: st.Name, Description: st.Description, Users: inStage[j]}
		if entered[j] > 0 && j < n-1 {
			sc.ChurnRate = float64(churned[j]) / float64(entered[j])
		}
		s.Stages = append(s.Stages, sc)
	}
	// In order: from (entry first, then by stage), then to.
	for k, c := range moves {
		if c == 0 {
			continue
		}
		from := ""
		if k/n > 0 {
			from = e.stages[k/n-1].name
		}
		s.Transitions = append(s.Transitions, Transition{From: from, To: e.stages[k%n].name, Users: c})
	}
	var steps [][2]int
	for i := 0; i+1 < n; i++ {
		steps = append(steps, [2]int{i, i + 1})
	}
	s.Funnel = e.conversionsWhere(us, keep, steps, true)
	return s
}

// Snapshot counts the users, evaluates the alerts as of now and returns what
// the evaluation found, with the alert memory to keep for the next one. It
// reads each user's compact state once per count: no events.
func (e *Engine) Snapshot(namespace, name string, us *Users, now time.Time, mem AlertMemory) (Snapshot, AlertMemory) {
	s := e.Shape(namespace, name, us, now)
	next := AlertMemory{}
	stats := journeyStats{snap: &s, users: us, engine: e}
	var act *activation
	ph, eh := &pointHistory{e: e, asOf: now.UnixNano()}, &eventHistory{asOf: now}
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
				if user != "" {
					st.Waiting = append(st.Waiting, AlertInstance{User: user, ActiveAt: since})
				}
			}
		}
		if a.Scope == v1alpha1.AlertScopeJourney {
			prg := e.find(e.journeyAlerts, a.Name)
			out, _, err := prg.Eval(map[string]any{"journey": expr.NewJourney(stats)})
			judge(a.Name, "", err == nil && out == types.True)
		} else {
			if act == nil {
				act = e.newActivation()
			}
			prg := e.find(e.userAlerts, a.Name)
			for i := range us.list {
				u := &us.list[i]
				var h expr.UserHistory = ph
				if e.bounded {
					ph.points = u.points
				} else {
					eh.events, h = u.events, eh
				}
				act.user.Bind(u.Stage(), u.EnteredAt(), h)
				act.user.ChurnRisk = e.risks[u.User]
				out, _, err := prg.Eval(act)
				judge(a.Name+"/"+u.User, u.User, err == nil && out == types.True)
			}
			slices.SortFunc(st.Instances, func(a, b AlertInstance) int { return strings.Compare(a.User, b.User) })
			slices.SortFunc(st.Waiting, func(a, b AlertInstance) int { return strings.Compare(a.User, b.User) })
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

// conversions are, for each pair of stages (from, to), the share of users
// who entered stage from and then stage to within the conversion window;
// with median, also the median time it took them. One pass over the users
// answers every pair.
func (e *Engine) conversions(us *Users, pairs [][2]int, median bool) []FunnelStep {
	return e.conversionsWhere(us, nil, pairs, median)
}

func (e *Engine) conversionsWhere(us *Users, keep func(int) bool, pairs [][2]int, median bool) []FunnelStep {
	out := make([]FunnelStep, len(pairs))
	waits := make([][]int64, len(pairs))
	window := int64(e.window)
	for i := range us.list {
		u := &us.list[i]
		if keep != nil && !keep(i) {
			continue
		}
		for k, p := range pairs {
			from, to := p[0], p[1]
			if u.reached&(1<<from) == 0 {
				continue
			}
			out[k].Entered++
			if u.reached&(1<<to) == 0 {
				continue
			}
			if wait := u.entered[to] - u.entered[from]; wait >= 0 && wait <= window {
				out[k].Converted++
				if median {
					waits[k] = append(waits[k], wait)
				}
			}
		}
	}
	for k, p := range pairs {
		f := &out[k]
		f.From, f.To = e.stages[p[0]].name, e.stages[p[1]].name
		f.DropOff = f.Entered - f.Converted
		if f.Entered > 0 {
			f.Rate = float64(f.Converted) / float64(f.Entered)
		}
		if w := waits[k]; len(w) > 0 {
			slices.Sort(w)
			f.MedianTimeToConvert = time.Duration(w[len(w)/2])
		}
	}
	return out
}

// journeyStats answers journey.users and journey.conversion for
// Journey-scoped alerts.
type journeyStats struct {
	snap   *Snapshot
	users  *Users
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
	f, t := j.engine.stageIndex(from), j.engine.stageIndex(to)
	if f < 0 || t < 0 {
		return 0
	}
	return j.engine.conversions(j.users, [][2]int{{f, t}}, false)[0].Rate
}

// recomputeChunk bounds how many users' events one query reads.
const recomputeChunk = 5_000

// Update evaluates the events ingested after seq after and up to upTo, and
// returns the users whose state changed. A user's new events that are all
// newer than the ones evaluated go on from the user's state; a user with
// an older one (a late event) is evaluated again from all their events.
func (e *Engine) Update(ctx context.Context, st store.Store, sources []string, us *Users, after, upTo int64) ([]string, error) {
	act := e.newActivation()
	var changed, again []string
	q := e.query(sources)
	q.AfterSeq, q.UpToSeq = after, upTo
	err := e.scanByUser(ctx, st, q, func(events []store.Event, raws [][]byte) error {
		user := events[0].UserID
		u := us.Get(user)
		switch {
		case u == nil:
			u = us.Put(e.newUser(user))
		case events[0].OccurredAt.UnixNano() < u.last:
			// Same-time events go in ingestion order: a tie goes after.
			again = append(again, user)
			return nil
		}
		e.advance(u, events, raws, nil, act)
		changed = append(changed, user)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for lo := 0; lo < len(again); lo += recomputeChunk {
		chunk := again[lo:min(lo+recomputeChunk, len(again))]
		q := e.query(sources)
		q.Users, q.UpToSeq = chunk, upTo
		err := e.scanByUser(ctx, st, q, func(events []store.Event, raws [][]byte) error {
			u := us.Put(e.newUser(events[0].UserID))
			e.advance(u, events, raws, nil, act)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return append(changed, again...), nil
}

// scanByUser streams the events q selects, one user's at a time, with
// what the engine reads of their attributes (see take).
func (e *Engine) scanByUser(ctx context.Context, st store.Store, q store.EventQuery, fn func([]store.Event, [][]byte) error) error {
	var cur []store.Event
	var raws [][]byte
	err := st.ScanEvents(ctx, q, func(ev *store.Event, attrs []byte) error {
		if len(cur) > 0 && cur[0].UserID != ev.UserID {
			if err := fn(cur, raws); err != nil {
				return err
			}
			cur, raws = nil, nil // an unbounded user's state keeps the events
		}
		c, raw := e.take(ev, attrs)
		if err := e.decode(&c, raw); err != nil {
			return err
		}
		cur, raws = append(cur, c), append(raws, raw)
		return nil
	})
	if err != nil || len(cur) == 0 {
		return err
	}
	return fn(cur, raws)
}

// query selects the sources' events with no more of them than the engine
// reads: no namespace or run ID, and attributes only where it reads them.
func (e *Engine) query(sources []string) store.EventQuery {
	q := store.EventQuery{Sources: sources, Lean: true}
	if !e.decodeAll && e.bounded {
		q.AttributesOf = []string{}
		for tp := range e.sumTouchpoints {
			q.AttributesOf = append(q.AttributesOf, tp)
		}
	}
	return q
}

// take copies an event as the store hands it over, with its attributes as
// read when the engine reads them (see attributes).
func (e *Engine) take(ev *store.Event, attrs []byte) (store.Event, []byte) {
	if decode, raw := e.attributes(ev.Touchpoint); len(attrs) > 0 && (decode || raw) {
		return *ev, bytes.Clone(attrs)
	}
	return *ev, nil
}

// decode decodes the attributes of an event taken, if the engine reads
// them whole.
func (e *Engine) decode(ev *store.Event, raw []byte) error {
	if decode, _ := e.attributes(ev.Touchpoint); !decode || raw == nil {
		return nil
	}
	if err := json.Unmarshal(raw, &ev.Attributes); err != nil {
		return fmt.Errorf("read event %s attributes: %w", ev.EventID, err)
	}
	return nil
}

// Feedback tells, per feedback trigger, how many users entered its stage
// (each would be surveyed) and how many of them have a feedback event at
// or after entering: what a one-shot run, which sends no survey, can say
// of the trigger. The evaluator counts what it actually sent instead.
func (e *Engine) Feedback(us *Users) []FeedbackCount {
	var out []FeedbackCount
	for _, t := range e.spec.Feedback {
		fc := FeedbackCount{Name: t.Name, OnEnter: t.OnEnter}
		j := e.stageIndex(t.OnEnter)
		for i := range us.list {
			u := &us.list[i]
			if j < 0 || u.reached&(1<<j) == 0 {
				continue
			}
			fc.Sent++
			if u.responded != 0 && u.responded >= u.entered[j] {
				fc.Responses++
			}
		}
		if fc.Sent > 0 {
			fc.ResponseRate = float64(fc.Responses) / float64(fc.Sent)
		}
		out = append(out, fc)
	}
	return out
}

// Replay evaluates as a running evaluator would have over the longest
// alert `for` before asOf, at the map's evaluation interval, so a one-shot
// evaluation (`journey run`) reports what would be firing by then.
func (e *Engine) Replay(namespace, name string, us *Users, asOf time.Time) Snapshot {
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
		_, mem = e.Snapshot(namespace, name, us, t, mem)
	}
	s, _ := e.Snapshot(namespace, name, us, asOf, mem)
	return s
}
