package journey

import (
	"fmt"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
)

// CallValue is one helper call of an alert and what it answers for a user.
type CallValue struct {
	Call  string  `json:"call"`
	Value float64 `json:"value"`
}

// AlertValues are what a User-scoped alert's helper calls answer for a user
// as of now: the values that made it fire (or not).
func (e *Engine) AlertValues(alert string, u *UserState, now time.Time) ([]CallValue, error) {
	var src v1alpha1.Expression
	found := false
	for _, a := range e.spec.Alerts {
		if a.Name == alert && a.Scope != v1alpha1.AlertScopeJourney {
			src, found = a.Expression, true
		}
	}
	if !found {
		return nil, fmt.Errorf("no User-scoped alert %q", alert)
	}
	calls, err := e.env.HelperCalls(expr.UserAlert, string(src))
	if err != nil {
		return nil, err
	}
	var h expr.UserHistory
	if e.bounded {
		h = &pointHistory{e: e, points: u.points, asOf: now.UnixNano()}
	} else {
		h = &eventHistory{events: u.events, asOf: now}
	}
	out := make([]CallValue, 0, len(calls))
	for _, c := range calls {
		v := CallValue{Call: c.Text}
		switch c.Function {
		case "count":
			v.Value = float64(h.Count(c.Touchpoint, c.Name, c.Window))
		case "sum":
			v.Value = h.Sum(c.Touchpoint, c.Name, c.Window)
		case "sumBetween":
			v.Value = h.SumBetween(c.Touchpoint, c.Name, c.From, c.To)
		}
		out = append(out, v)
	}
	return out, nil
}

// Stages are the map's stage names, in order.
func (e *Engine) Stages() []string {
	out := make([]string, len(e.stages))
	for i, s := range e.stages {
		out[i] = s.name
	}
	return out
}

// ConversionWindow is how long after entering a stage a move to the next
// counts as a conversion.
func (e *Engine) ConversionWindow() time.Duration { return time.Duration(e.window) }
