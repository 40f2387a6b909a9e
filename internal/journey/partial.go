package journey

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
)

// Partial is what some of a journey's users add to its figures: counts
// that add up, and the times to convert, so that partials of disjoint
// users (the shards of a sharded evaluation) merge into exactly the
// figures of all of them. A snapshot is made from one partial, merged or
// not.
type Partial struct {
	Users int64 `json:"users"`
	// InStage, Entered and Churned count, per stage, the users in it now,
	// those who ever entered it, and those of them who churned after.
	InStage []int64 `json:"inStage"`
	Entered []int64 `json:"entered"`
	Churned []int64 `json:"churned"`
	// Moves counts moves between stages: [from+1][to], from -1 being the
	// entry into a user's first stage.
	Moves []int64 `json:"moves"`
	// Converted counts, for every [from][to], the users who entered to
	// within the conversion window after entering from.
	Converted []int64 `json:"converted"`
	// Waits are the times to convert (ns) of the funnel's steps, sorted.
	Waits [][]int64 `json:"waits,omitempty"`
	// Alerts are the User-scoped alerts, in spec order, judged for these
	// users (see JudgeUserAlerts).
	Alerts []AlertState `json:"alerts,omitempty"`
	// Feedback are the survey triggers' counts for these users, in spec
	// order, when counted (by the evaluator that sends the surveys).
	Feedback []FeedbackCount `json:"feedback,omitempty"`
}

// PartialWhere counts the users keep selects by their position in us
// (nil: all); with waits, it keeps the funnel's times to convert.
func (e *Engine) PartialWhere(us *Users, keep func(int) bool, waits bool) Partial {
	n := len(e.stages)
	p := e.emptyPartial()
	if waits && n > 1 {
		p.Waits = make([][]int64, n-1)
	}
	var lastBit uint64
	if n > 0 {
		lastBit = 1 << (n - 1)
	}
	window := int64(e.window)
	for i := range us.n {
		if keep != nil && !keep(i) {
			continue
		}
		u := us.At(i)
		p.Users++
		if u.stage >= 0 {
			p.InStage[u.stage]++
		}
		from := -1
		for b := u.path; b != 0; b &= b - 1 {
			to := bits.TrailingZeros64(b)
			p.Moves[(from+1)*n+to]++
			from = to
		}
		for b := u.reached; b != 0; b &= b - 1 {
			j := bits.TrailingZeros64(b)
			p.Entered[j]++
			if j < n-1 && u.reached&lastBit != 0 && u.entered[n-1] >= u.entered[j] {
				p.Churned[j]++
			}
			for c := u.reached; c != 0; c &= c - 1 {
				k := bits.TrailingZeros64(c)
				if wait := u.entered[k] - u.entered[j]; wait >= 0 && wait <= window {
					p.Converted[j*n+k]++
					if k == j+1 && p.Waits != nil {
						p.Waits[j] = append(p.Waits[j], wait)
					}
				}
			}
		}
	}
	for _, w := range p.Waits {
		slices.Sort(w)
	}
	return p
}

func (e *Engine) emptyPartial() Partial {
	n := len(e.stages)
	return Partial{InStage: make([]int64, n), Entered: make([]int64, n), Churned: make([]int64, n),
		Moves: make([]int64, (n+1)*n), Converted: make([]int64, n*n)}
}

// Merge adds up partials of disjoint users of this engine's map.
func (e *Engine) Merge(parts ...Partial) (Partial, error) {
	out := e.emptyPartial()
	n := len(e.stages)
	for i, p := range parts {
		if len(p.InStage) != n || len(p.Entered) != n || len(p.Churned) != n || len(p.Moves) != (n+1)*n || len(p.Converted) != n*n ||
			(p.Waits != nil && len(p.Waits) != max(0, n-1)) || (p.Alerts != nil && len(p.Alerts) != len(e.userAlerts)) ||
			(p.Feedback != nil && len(p.Feedback) != len(e.spec.Feedback)) {
			return Partial{}, fmt.Errorf("partial %d is not of this map's stages, alerts and feedback", i)
		}
		out.Users += p.Users
		add(out.InStage, p.InStage)
		add(out.Entered, p.Entered)
		add(out.Churned, p.Churned)
		add(out.Moves, p.Moves)
		add(out.Converted, p.Converted)
		if p.Waits != nil {
			if out.Waits == nil {
				out.Waits = make([][]int64, n-1)
			}
			for j, w := range p.Waits {
				out.Waits[j] = append(out.Waits[j], w...)
			}
		}
		if p.Alerts != nil {
			if out.Alerts == nil {
				out.Alerts = slices.Clone(p.Alerts)
				for j := range out.Alerts {
					out.Alerts[j].Instances = slices.Clone(out.Alerts[j].Instances)
					out.Alerts[j].Waiting = slices.Clone(out.Alerts[j].Waiting)
				}
			} else {
				for j, a := range p.Alerts {
					m := &out.Alerts[j]
					m.Firing += a.Firing
					m.Pending += a.Pending
					m.Instances = append(m.Instances, a.Instances...)
					m.Waiting = append(m.Waiting, a.Waiting...)
				}
			}
		}
		if p.Feedback != nil {
			if out.Feedback == nil {
				out.Feedback = make([]FeedbackCount, len(p.Feedback))
				for j, f := range p.Feedback {
					out.Feedback[j] = FeedbackCount{Name: f.Name, OnEnter: f.OnEnter}
				}
			}
			for j, f := range p.Feedback {
				out.Feedback[j].Sent += f.Sent
				out.Feedback[j].Responses += f.Responses
			}
		}
	}
	for _, w := range out.Waits {
		slices.Sort(w)
	}
	for j := range out.Alerts {
		sortInstances(out.Alerts[j].Instances)
		sortInstances(out.Alerts[j].Waiting)
	}
	for j := range out.Feedback {
		if f := &out.Feedback[j]; f.Sent > 0 {
			f.ResponseRate = float64(f.Responses) / float64(f.Sent)
		}
	}
	return out, nil
}

func add(dst, src []int64) {
	for i, v := range src {
		dst[i] += v
	}
}

func sortInstances(list []AlertInstance) {
	slices.SortFunc(list, func(a, b AlertInstance) int { return strings.Compare(a.User, b.User) })
}

// shape is a partial's stages, moves and funnel, as a snapshot has them.
func (e *Engine) shape(namespace, name string, p *Partial, now time.Time) Snapshot {
	s := Snapshot{Namespace: namespace, Name: name, EvaluatedAt: now, Users: p.Users}
	n := len(e.stages)
	for j, st := range e.spec.Stages {
		sc := StageCount{Name: st.Name, Description: st.Description, Users: p.InStage[j]}
		if p.Entered[j] > 0 && j < n-1 {
			sc.ChurnRate = float64(p.Churned[j]) / float64(p.Entered[j])
		}
		s.Stages = append(s.Stages, sc)
	}
	// In order: from (entry first, then by stage), then to.
	for k, c := range p.Moves {
		if c == 0 {
			continue
		}
		from := ""
		if k/n > 0 {
			from = e.stages[k/n-1].name
		}
		s.Transitions = append(s.Transitions, Transition{From: from, To: e.stages[k%n].name, Users: c})
	}
	for j := 0; j+1 < n; j++ {
		f := p.step(j, j+1)
		f.From, f.To = e.stages[j].name, e.stages[j+1].name
		if p.Waits != nil {
			if w := p.Waits[j]; len(w) > 0 {
				f.MedianTimeToConvert = time.Duration(w[len(w)/2])
			}
		}
		s.Funnel = append(s.Funnel, f)
	}
	return s
}

// step is the conversion from stage from to stage to, without names.
func (p *Partial) step(from, to int) FunnelStep {
	n := len(p.Entered)
	f := FunnelStep{Entered: p.Entered[from], Converted: p.Converted[from*n+to]}
	f.DropOff = f.Entered - f.Converted
	if f.Entered > 0 {
		f.Rate = float64(f.Converted) / float64(f.Entered)
	}
	return f
}

// JudgeUserAlerts evaluates the User-scoped alerts for every user in us as
// of now, into p.Alerts, and returns their part of the alert memory to keep.
func (e *Engine) JudgeUserAlerts(p *Partial, us *Users, now time.Time, mem AlertMemory) AlertMemory {
	next := AlertMemory{}
	p.Alerts = make([]AlertState, 0, len(e.userAlerts))
	act := e.newActivation()
	ph, eh := &pointHistory{e: e, asOf: now.UnixNano()}, &eventHistory{asOf: now}
	for _, a := range e.spec.Alerts {
		if a.Scope == v1alpha1.AlertScopeJourney {
			continue
		}
		st := newAlertState(a)
		prg := e.find(e.userAlerts, a.Name)
		for i := range us.n {
			u := us.At(i)
			var h expr.UserHistory = ph
			if e.bounded {
				ph.points = u.points
			} else {
				eh.events, h = u.events, eh
			}
			act.user.Bind(u.Stage(), u.EnteredAt(), h)
			act.user.ChurnRisk = e.risks[u.User]
			out, _, err := prg.Eval(act)
			judge(&st, a, mem, next, now, a.Name+"/"+u.User, u.User, err == nil && out == types.True)
		}
		sortInstances(st.Instances)
		sortInstances(st.Waiting)
		p.Alerts = append(p.Alerts, st)
	}
	return next
}

func newAlertState(a v1alpha1.Alert) AlertState {
	return AlertState{Name: a.Name, Scope: string(a.Scope), Severity: a.Severity, Labels: a.Labels, Annotations: a.Annotations}
}

// judge counts an alert instance as pending or firing when its expression
// holds, remembering since when in next.
func judge(st *AlertState, a v1alpha1.Alert, mem, next AlertMemory, now time.Time, key, user string, holds bool) {
	if !holds {
		return
	}
	var hold time.Duration
	if a.For != nil {
		hold = a.For.Duration
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

// SnapshotOf is the snapshot of a partial (merged from every shard's, or
// one of all users), with the Journey-scoped alerts evaluated on it as of
// now and the User-scoped ones as the partial judged them. It returns the
// Journey-scoped alerts' part of the memory to keep.
func (e *Engine) SnapshotOf(namespace, name string, p Partial, now time.Time, mem AlertMemory) (Snapshot, AlertMemory) {
	s := e.shape(namespace, name, &p, now)
	next := AlertMemory{}
	stats := journeyStats{snap: &s, partial: &p, engine: e}
	user := 0
	for _, a := range e.spec.Alerts {
		if a.Scope != v1alpha1.AlertScopeJourney {
			st := newAlertState(a)
			if user < len(p.Alerts) {
				st = p.Alerts[user]
			}
			user++
			s.Alerts = append(s.Alerts, st)
			continue
		}
		st := newAlertState(a)
		out, _, err := e.find(e.journeyAlerts, a.Name).Eval(map[string]any{"journey": expr.NewJourney(stats)})
		judge(&st, a, mem, next, now, a.Name, "", err == nil && out == types.True)
		s.Alerts = append(s.Alerts, st)
	}
	s.Feedback = p.Feedback
	return s, next
}
