package journey

import (
	"maps"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
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
	p := e.PartialWhere(us, keep, true)
	return e.shape(namespace, name, &p, now)
}

// Snapshot counts the users, evaluates the alerts as of now and returns what
// the evaluation found, with the alert memory to keep for the next one. It
// reads each user's compact state once per count: no events.
func (e *Engine) Snapshot(namespace, name string, us *Users, now time.Time, mem AlertMemory) (Snapshot, AlertMemory) {
	p := e.PartialWhere(us, nil, true)
	next := e.JudgeUserAlerts(&p, us, now, mem)
	s, journeyMem := e.SnapshotOf(namespace, name, p, now, mem)
	maps.Copy(next, journeyMem)
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

// journeyStats answers journey.users and journey.conversion for
// Journey-scoped alerts.
type journeyStats struct {
	snap    *Snapshot
	partial *Partial
	engine  *Engine
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
	return j.partial.step(f, t).Rate
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
		for i := range us.n {
			u := us.At(i)
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
