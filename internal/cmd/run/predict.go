package run

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printPrediction writes a map's churn model next to the map's own rule,
// and the expected churn by stage and by segment.
func printPrediction(w io.Writer, m MapResult) {
	p := m.Prediction
	if p == nil {
		return
	}
	if p.HeldOut == nil {
		fmt.Fprintf(w, "  churn prediction: no model: %s\n", p.Message)
		return
	}
	r := m.prediction
	h := p.HeldOut
	rule := "in " + r.Spec.Stages[len(r.Spec.Stages)-2]
	fmt.Fprintf(w, "  churn prediction (%s, entering %s within %s): held-out AUC %s against %s for the map's rule (%s), on %d users of a later period (%d churned); lift in the top decile %s, calibration error %s\n",
		p.Model, r.Spec.Stages[len(r.Spec.Stages)-1], hours(r.Spec.Horizon), h.AUC, h.BaselineAUC, rule, h.Users, h.Positives, h.LiftTopDecile, h.CalibrationError)
	var parts []string
	for _, g := range r.ByStage {
		parts = append(parts, fmt.Sprintf("%s %.0f%% (%d)", g.Name, 100*g.ExpectedChurn, g.Users))
	}
	fmt.Fprintf(w, "  expected churn by stage: %s\n", strings.Join(parts, ", "))
	parts = parts[:0]
	for i, g := range r.BySegment {
		if i == 8 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%% (%d)", g.Name, 100*g.ExpectedChurn, g.Users))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  expected churn by segment: %s\n", strings.Join(parts, ", "))
	}
}

// hours writes a horizon as specs do: 336h.
func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
