package validate_test

import (
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/validate"
)

// user.churnRisk is the churn model's score: a map that has no model is
// told so, naming the stage or alert that reads it.
func TestChurnRiskNeedsAPrediction(t *testing.T) {
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	spec := v1alpha1.JourneyMapSpec{
		Stages: []v1alpha1.Stage{{Name: "Active", EnterWhen: "true"}, {Name: "Likely", EnterWhen: "user.churnRisk > 0.8"}, {Name: "Churned", EnterWhen: `event.type == "deleted"`}},
		Alerts: []v1alpha1.Alert{{Name: "Risky", Scope: v1alpha1.AlertScopeUser, Expression: "user.churnRisk >= 0.5 && user.stage != 'Churned'"}},
	}
	p := validate.Journey(env, &spec).String()
	for _, want := range []string{"stage Likely enterWhen: reads user.churnRisk, which needs spec.prediction", "alert Risky expression: reads user.churnRisk"} {
		if !strings.Contains(p, want) {
			t.Errorf("problems %q lack %q", p, want)
		}
	}
	spec.Prediction = &v1alpha1.Prediction{}
	if p := validate.Journey(env, &spec); len(p) != 0 {
		t.Errorf("with a prediction: %s", p)
	}
}

// A folder's source that admission never saw is told which required
// mapping field it lacks; a Segment source has defaults for them.
func TestMappingRequiredUnlessSegment(t *testing.T) {
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	spec := v1alpha1.TouchpointSourceSpec{Touchpoint: "app",
		Webhook: &v1alpha1.WebhookSource{Path: "/hook"},
		Mapping: v1alpha1.EventMapping{EventID: "record.id", Type: "record.type"}}
	p := validate.Source(env, &spec).String()
	for _, want := range []string{"spec.mapping.userID: required: only a Segment source", "spec.mapping.occurredAt: required"} {
		if !strings.Contains(p, want) {
			t.Errorf("problems %q lack %q", p, want)
		}
	}
	if strings.Contains(p, "eventID") || strings.Contains(p, "spec.mapping.type") {
		t.Errorf("problems %q name a field that is there", p)
	}
	spec.Webhook.Protocol = v1alpha1.WebhookProtocolSegment
	spec.Mapping = v1alpha1.EventMapping{}
	if p := validate.Source(env, &spec); len(p) != 0 {
		t.Errorf("a Segment source without mapping: %s", p)
	}
}
