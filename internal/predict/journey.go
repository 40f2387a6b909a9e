package predict

import (
	"context"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// DefaultHorizon is a prediction's horizon when the map names none.
const DefaultHorizon = 720 * time.Hour

// MapSpec is what to predict for a JourneyMap whose sources have these
// touchpoints; ok is false when the map asks for no prediction.
func MapSpec(m v1alpha1.JourneyMapSpec, touchpoints []string, asOf time.Time) (Spec, bool) {
	if m.Prediction == nil {
		return Spec{}, false
	}
	s := Spec{Touchpoints: touchpoints, Segments: m.Segments, Horizon: DefaultHorizon, AsOf: asOf}
	if h := m.Prediction.Horizon; h != nil && h.Duration > 0 {
		s.Horizon = h.Duration
	}
	for _, st := range m.Stages {
		s.Stages = append(s.Stages, st.Name)
	}
	return s, true
}

// StoreHistory is a map's users as a store holds their events and the
// journey engine placed them in stages.
type StoreHistory struct {
	Store   store.Store
	Sources []string
	Users   *journey.Users
	Stages  []string
}

// Each streams the users' events from the store, in user and time order.
func (h StoreHistory) Each(ctx context.Context, fn func(string, []Event, []time.Time) error) error {
	var user string
	var events []Event
	entered := make([]time.Time, len(h.Stages))
	flush := func() error {
		if user == "" {
			return nil
		}
		clear(entered)
		if u := h.Users.Get(user); u != nil {
			for i, s := range h.Stages {
				if t, ok := u.Entered(s); ok {
					entered[i] = t
				}
			}
		}
		return fn(user, events, entered)
	}
	err := h.Store.ScanEvents(ctx, store.EventQuery{Sources: h.Sources, Lean: true}, func(ev *store.Event, attrs []byte) error {
		if ev.UserID != user {
			if err := flush(); err != nil {
				return err
			}
			user, events = ev.UserID, events[:0]
		}
		e := Event{Touchpoint: ev.Touchpoint, Type: ev.Type, At: ev.OccurredAt}
		if ev.Amount != nil {
			a := *ev.Amount
			e.Amount = &a
		}
		if len(attrs) > 0 {
			e.Attributes = append([]byte(nil), attrs...)
		}
		events = append(events, e)
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// Report is a trained model, how it did, and the risk of the users now.
type Report struct {
	*Result
	Spec      Spec
	TrainedAt time.Time
	// Scored users (who have not reached the last stage), and their
	// expected churn by stage and by segment value ("plan = basic").
	Scored    int
	ByStage   []Group
	BySegment []Group
}

// Run trains on h, then scores every user, calling each (when not nil)
// with each one's risk and k strongest factors.
func Run(ctx context.Context, h History, s Spec, k int, now time.Time, each func(UserRisk) error) (*Report, error) {
	res, err := Train(ctx, h, s)
	if err != nil {
		return nil, err
	}
	r := &Report{Result: res, Spec: s, TrainedAt: now}
	byStage, bySegment := Groups{}, Groups{}
	err = Score(ctx, h, s, res, k, func(u UserRisk) error {
		r.Scored++
		byStage.Add(u.Stage, u.Risk)
		for i, v := range u.Segments {
			if v != "" {
				bySegment.Add(s.Segments[i]+" = "+v, u.Risk)
			}
		}
		if each != nil {
			return each(u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Stages in map order; segments largest first.
	for _, st := range s.Stages[:len(s.Stages)-1] {
		if g, ok := byStage[st]; ok {
			r.ByStage = append(r.ByStage, *g)
		}
	}
	if g, ok := byStage[""]; ok {
		g.Name = "(none yet)"
		r.ByStage = append(r.ByStage, *g)
	}
	r.BySegment = bySegment.Sorted()
	return r, nil
}

// Summary is the report as the journey's snapshot carries it.
func (r *Report) Summary() *journey.Prediction {
	h := r.HeldOut
	p := &journey.Prediction{Model: r.Model.Name(), TrainedAt: r.TrainedAt, Horizon: r.Spec.Horizon,
		HeldOut: journey.HeldOut{Users: h.Users, Positives: h.Positives, AUC: h.AUC, BaselineAUC: h.BaselineAUC,
			LiftTopDecile: h.LiftTopDecile, CalibrationError: h.CalibrationError}}
	for _, g := range r.ByStage {
		p.ByStage = append(p.ByStage, journey.RiskGroup(g))
	}
	for _, g := range r.BySegment {
		p.BySegment = append(p.BySegment, journey.RiskGroup(g))
	}
	return p
}

// StatusOf is a snapshot's prediction as a JourneyMap's status.prediction.
func StatusOf(p *journey.Prediction) *v1alpha1.PredictionStatus {
	if p == nil {
		return nil
	}
	if p.Model == "" {
		return &v1alpha1.PredictionStatus{Message: p.Message}
	}
	h := p.HeldOut
	t := metav1.NewTime(p.TrainedAt)
	st := &v1alpha1.PredictionStatus{TrainedAt: &t, Model: p.Model, HeldOut: &v1alpha1.HeldOutStatus{
		Users: int64(h.Users), Positives: int64(h.Positives), AUC: Figure(h.AUC), BaselineAUC: Figure(h.BaselineAUC),
		LiftTopDecile: Figure(h.LiftTopDecile), CalibrationError: Figure(h.CalibrationError),
	}}
	for _, g := range p.ByStage {
		if g.Name == "(none yet)" {
			continue
		}
		st.ByStage = append(st.ByStage, v1alpha1.StageRisk{Stage: g.Name, Users: int64(g.Users), ExpectedChurn: Figure(g.ExpectedChurn)})
	}
	return st
}

// Status is the report as a JourneyMap's status.prediction.
func (r *Report) Status() *v1alpha1.PredictionStatus { return StatusOf(r.Summary()) }

// Figure writes a measure as status does: two decimals ("0.83"); "n/a"
// for a measure that could not be taken.
func Figure(v float64) string {
	if v != v { // NaN
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
