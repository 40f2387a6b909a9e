package journey

import (
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
)

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
