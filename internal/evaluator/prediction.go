package evaluator

import (
	"context"
	"errors"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/predict"
)

// DefaultRetrainEvery is how often the churn model is trained when the map
// does not say.
const DefaultRetrainEvery = 24 * time.Hour

// train trains the churn model when the map asks for one and the last
// training is older than retrainEvery. A history too short to learn from
// is reported (and tried again at the next interval); any other failure
// keeps the previous model.
func (e *Evaluator) train(ctx context.Context, sources []string) {
	touchpoints := make([]string, len(e.cfg.Sources))
	for i, s := range e.cfg.Sources {
		touchpoints[i] = s.Touchpoint
	}
	now := e.now()
	spec, ok := predict.MapSpec(e.cfg.Spec, touchpoints, now)
	if !ok {
		e.prediction = nil
		return
	}
	every := DefaultRetrainEvery
	if p := e.cfg.Spec.Prediction; p.RetrainEvery != nil && p.RetrainEvery.Duration > 0 {
		every = p.RetrainEvery.Duration
	}
	if !e.trainedAt.IsZero() && now.Before(e.trainedAt.Add(every)) {
		return
	}
	start := time.Now()
	h := predict.StoreHistory{Store: e.store, Sources: sources, Users: e.users, Stages: spec.Stages}
	// The drill-down lists users by risk; stage and alert expressions may
	// read it (user.churnRisk).
	risks := map[string]float64{}
	each := func(u predict.UserRisk) error { risks[u.User] = u.Risk; return nil }
	rep, err := predict.Run(ctx, h, spec, 0, now, each)
	switch {
	case err == nil:
		e.prediction, e.trainedAt = rep.Summary(), now
		e.risks = risks
		if e.engine.ReadsChurnRisk() {
			e.engine.SetRisks(risks)
		}
		e.log.Info("trained the churn model", "heldOutUsers", rep.HeldOut.Users, "auc", rep.HeldOut.AUC,
			"ruleAUC", rep.HeldOut.BaselineAUC, "took", time.Since(start).Round(time.Millisecond))
	case errors.Is(err, predict.ErrNotEnoughHistory):
		e.prediction, e.trainedAt = &journey.Prediction{Message: err.Error(), Horizon: spec.Horizon}, now
	default:
		e.trainedAt = now // tried again at the next interval, not every evaluation
		e.log.Error(err, "training the churn model failed; keeping the previous one")
	}
}
