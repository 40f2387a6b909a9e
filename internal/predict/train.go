package predict

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// History is a journey's users: each user's events in time order, and when
// they entered each of the map's stages (zero: never).
type History interface {
	Each(ctx context.Context, fn func(user string, events []Event, entered []time.Time) error) error
}

// Spec says what to predict and from what.
type Spec struct {
	// Stages of the map, in order; the last is the outcome predicted.
	Stages      []string
	Touchpoints []string
	Segments    []string
	Horizon     time.Duration
	AsOf        time.Time
	// Lambda is the L2 penalty; 0 takes DefaultLambda.
	Lambda float64
	// MaxExamples bounds the examples of each period (a stable sample of
	// the users); 0 takes DefaultMaxExamples.
	MaxExamples int
}

// Defaults.
const (
	DefaultLambda      = 0.01
	DefaultMaxExamples = 100_000
)

// Evaluation is how the model did on one period's users.
type Evaluation struct {
	// Cutoff is when the features were taken; the labels are whether the
	// last stage was entered within the horizon after it.
	Cutoff      time.Time
	Users       int
	Positives   int
	AUC         float64
	BaselineAUC float64
	// LiftTopDecile and CalibrationError of the model's scores.
	LiftTopDecile, CalibrationError float64
}

// Result is a trained model and how it did.
type Result struct {
	Model *Model
	Dict  *Dictionary
	// Trained is the training period's evaluation (the model's fit), and
	// HeldOut the later period's, on users and outcomes it never saw.
	Trained, HeldOut Evaluation
	// The model scoring uses was refitted on both periods.
}

// Explain is what a refusal to train says.
var ErrNotEnoughHistory = errors.New("not enough history to train on")

type example struct {
	row      Sparse
	label    float64
	baseline float64
}

// Train builds examples at two cutoffs, a horizon apart and ending a
// horizon before AsOf; trains on the first, judges on the second (a later
// period: no user's outcome is seen twice in time), and refits on both for
// scoring.
func Train(ctx context.Context, h History, s Spec) (*Result, error) {
	if len(s.Stages) < 2 {
		return nil, fmt.Errorf("%w: the map needs at least two stages, the last being the outcome", ErrNotEnoughHistory)
	}
	if s.Horizon <= 0 {
		return nil, errors.New("the horizon must be positive")
	}
	lambda, maxN := s.Lambda, s.MaxExamples
	if lambda == 0 {
		lambda = DefaultLambda
	}
	if maxN == 0 {
		maxN = DefaultMaxExamples
	}
	t2 := s.AsOf.Add(-s.Horizon)
	t1 := t2.Add(-s.Horizon)
	dict := NewDictionary()
	x := &Extractor{Dict: dict, Touchpoints: s.Touchpoints, Segments: s.Segments, Grow: true}
	last, before := len(s.Stages)-1, s.Stages[len(s.Stages)-2]
	train, test := newReservoir(maxN, 1), newReservoir(maxN, 2)
	err := h.Each(ctx, func(user string, events []Event, entered []time.Time) error {
		if e, ok := exampleAt(x, events, entered, t1, s.Horizon, s.Stages, last, before); ok {
			train.add(e)
		}
		if e, ok := exampleAt(x, events, entered, t2, s.Horizon, s.Stages, last, before); ok {
			test.add(e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fit(dict, train.kept, test.kept, t1, t2, s, lambda)
}

func fit(dict *Dictionary, train, test []example, t1, t2 time.Time, s Spec, lambda float64) (*Result, error) {
	last := len(s.Stages) - 1
	positives := func(ex []example) int {
		n := 0
		for _, e := range ex {
			n += int(e.label)
		}
		return n
	}
	if len(train) == 0 || len(test) == 0 || positives(train) == 0 || positives(test) == 0 {
		return nil, fmt.Errorf("%w: training on users as of %s and judging on users as of %s needs users in both who did and who did not reach %s within %s after (found %d users with %d who did, and %d with %d)",
			ErrNotEnoughHistory, t1.Format(time.DateOnly), t2.Format(time.DateOnly), s.Stages[last], s.Horizon,
			len(train), positives(train), len(test), positives(test))
	}
	rows, y := split(train)
	m, err := Fit(dict.Names, rows, y, lambda)
	if err != nil {
		return nil, err
	}
	res := &Result{Dict: dict, Trained: evaluate(m, train, t1), HeldOut: evaluate(m, test, t2)}
	all := append(append([]example(nil), train...), test...)
	rows, y = split(all)
	if res.Model, err = Fit(dict.Names, rows, y, lambda); err != nil {
		return nil, err
	}
	return res, nil
}

func split(ex []example) ([]Sparse, []float64) {
	rows, y := make([]Sparse, len(ex)), make([]float64, len(ex))
	for i, e := range ex {
		rows[i], y[i] = e.row, e.label
	}
	return rows, y
}

// exampleAt is a user's example at cut: their features then, and whether
// they reached the last stage within the horizon after. Users with no
// event yet, or in the last stage already, are not examples.
func exampleAt(x *Extractor, events []Event, entered []time.Time, cut time.Time, horizon time.Duration, stages []string, last int, before string) (example, bool) {
	if len(events) == 0 || events[0].At.After(cut) {
		return example{}, false
	}
	if t := entered[last]; !t.IsZero() && !t.After(cut) {
		return example{}, false
	}
	stage, at := StageAt(stages, entered, cut)
	e := example{row: x.Features(events, cut, stage, at)}
	if t := entered[last]; !t.IsZero() && t.After(cut) && !t.After(cut.Add(horizon)) {
		e.label = 1
	}
	if stage == before {
		e.baseline = 1
	}
	return e, true
}

// StageAt is the stage a user was in at cut: the last, in map order, whose
// condition had held by then (stages only move forward), and when.
func StageAt(stages []string, entered []time.Time, cut time.Time) (string, time.Time) {
	for i := len(stages) - 1; i >= 0; i-- {
		if t := entered[i]; !t.IsZero() && !t.After(cut) {
			return stages[i], t
		}
	}
	return "", time.Time{}
}

func evaluate(m *Model, ex []example, cut time.Time) Evaluation {
	scores, labels, base := make([]float64, len(ex)), make([]float64, len(ex)), make([]float64, len(ex))
	ev := Evaluation{Cutoff: cut, Users: len(ex)}
	for i, e := range ex {
		scores[i], _ = m.Score(e.row, 0)
		labels[i], base[i] = e.label, e.baseline
		ev.Positives += int(e.label)
	}
	ev.AUC, ev.BaselineAUC = AUC(scores, labels), AUC(base, labels)
	ev.LiftTopDecile, ev.CalibrationError = LiftTopDecile(scores, labels), CalibrationError(scores, labels)
	return ev
}

// reservoir keeps a uniform sample of at most max examples, whatever the
// order they come in (Algorithm R), the same from run to run.
type reservoir struct {
	kept []example
	seen int
	max  int
	rnd  *rand.Rand
}

func newReservoir(max int, seed uint64) *reservoir {
	return &reservoir{max: max, rnd: rand.New(rand.NewPCG(seed, 0x6a6f75726e6579))}
}

func (r *reservoir) add(e example) {
	r.seen++
	if len(r.kept) < r.max {
		r.kept = append(r.kept, e)
		return
	}
	if i := r.rnd.IntN(r.seen); i < r.max {
		r.kept[i] = e
	}
}

// UserRisk is one user's risk now.
type UserRisk struct {
	User    string
	Risk    float64
	Stage   string
	Factors []Factor
	// Segments are the user's values of the map's segments ("" unknown).
	Segments []string
}

// Score scores every user who has an event and has not reached the last
// stage as of AsOf, with their k strongest factors.
func Score(ctx context.Context, h History, s Spec, r *Result, k int, fn func(UserRisk) error) error {
	x := &Extractor{Dict: r.Dict, Touchpoints: s.Touchpoints, Segments: s.Segments}
	last := len(s.Stages) - 1
	return h.Each(ctx, func(user string, events []Event, entered []time.Time) error {
		if len(events) == 0 || events[0].At.After(s.AsOf) {
			return nil
		}
		if t := entered[last]; !t.IsZero() && !t.After(s.AsOf) {
			return nil
		}
		stage, at := StageAt(s.Stages, entered, s.AsOf)
		risk, factors := r.Model.Score(x.Features(events, s.AsOf, stage, at), k)
		u := UserRisk{User: user, Risk: risk, Stage: stage, Factors: factors}
		for _, seg := range s.Segments {
			u.Segments = append(u.Segments, Segment(events, s.AsOf, seg))
		}
		return fn(u)
	})
}

// Group is the expected churn of a group of users: their mean risk.
type Group struct {
	Name          string
	Users         int
	ExpectedChurn float64
}

// Groups gathers mean risks by a key (a stage, a segment's value), largest
// group first.
type Groups map[string]*Group

func (g Groups) Add(key string, risk float64) {
	x := g[key]
	if x == nil {
		x = &Group{Name: key}
		g[key] = x
	}
	x.ExpectedChurn = (x.ExpectedChurn*float64(x.Users) + risk) / float64(x.Users+1)
	x.Users++
}

// Sorted returns the groups, largest first.
func (g Groups) Sorted() []Group {
	out := make([]Group, 0, len(g))
	for _, x := range g {
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Users != out[j].Users {
			return out[i].Users > out[j].Users
		}
		return out[i].Name < out[j].Name
	})
	return out
}
