package controllers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
)

// The checks here are what admission cannot see: expressions that do not
// compile, schedules robfig/cron (the parser CronJob uses) refuses, time
// zones this system does not know. Each problem names its field.

// problems collects "field: what is wrong" lines.
type problems []string

func (p *problems) add(field string, err error) {
	if err != nil {
		*p = append(*p, fmt.Sprintf("%s: %v", field, err))
	}
}

func (p problems) String() string { return strings.Join(p, "; ") }

func compileInto(p *problems, env *expr.Env, c expr.Context, field string, src v1alpha1.Expression) {
	if src == "" {
		return
	}
	_, err := env.Compile(c, string(src))
	p.add(field, err)
}

// validateSource checks a TouchpointSource's spec.
func validateSource(env *expr.Env, spec *v1alpha1.TouchpointSourceSpec) problems {
	var p problems
	m := spec.Mapping
	for field, src := range map[string]v1alpha1.Expression{
		"eventID": m.EventID, "userID": m.UserID, "occurredAt": m.OccurredAt, "type": m.Type,
		"amount": m.Amount, "currency": m.Currency,
	} {
		compileInto(&p, env, expr.Mapping, "spec.mapping."+field, src)
	}
	for name, src := range m.Attributes {
		compileInto(&p, env, expr.Mapping, "spec.mapping.attributes."+name, src)
	}
	if b := spec.Batch; b != nil {
		if _, err := cron.ParseStandard(b.Schedule); err != nil {
			p.add("spec.batch.schedule", fmt.Errorf("%q is not a valid cron schedule: %v", b.Schedule, err))
		}
		if b.TimeZone != nil {
			if _, err := time.LoadLocation(*b.TimeZone); err != nil {
				p.add("spec.batch.timeZone", fmt.Errorf("unknown time zone %q", *b.TimeZone))
			}
		}
		if h := b.HTTP; h != nil {
			if pg := h.Pagination; pg != nil {
				compileInto(&p, env, expr.Pagination, "spec.batch.http.pagination.nextCursor", pg.NextCursor)
				compileInto(&p, env, expr.PaginationCondition, "spec.batch.http.pagination.hasMore", pg.HasMore)
			}
			if inc := h.Incremental; inc != nil {
				compileInto(&p, env, expr.Mapping, "spec.batch.http.incremental.cursor", inc.Cursor)
			}
		}
	}
	// Stable order: map iteration must not turn a reconcile into a status write.
	sort.Strings(p)
	return p
}

// validateChecks compiles every check of a ValidationRule; each problem
// names the check.
func validateChecks(env *expr.Env, checks []v1alpha1.Check) problems {
	var p problems
	for _, c := range checks {
		field := "check " + c.Name
		compileInto(&p, env, expr.CheckCondition, field+" expression", c.Expression)
		if c.Unique != nil {
			compileInto(&p, env, expr.CheckValue, field+" unique.key", c.Unique.Key)
		}
		if c.Relationship != nil {
			compileInto(&p, env, expr.CheckValue, field+" relationship.key", c.Relationship.Key)
		}
		if c.AcceptedValues != nil {
			compileInto(&p, env, expr.CheckValue, field+" acceptedValues.key", c.AcceptedValues.Key)
		}
		for i, src := range c.NotNull {
			compileInto(&p, env, expr.CheckValue, fmt.Sprintf("%s notNull[%d]", field, i), src)
		}
	}
	return p
}

// validateJourney compiles a JourneyMap's stages and alerts.
func validateJourney(env *expr.Env, spec *v1alpha1.JourneyMapSpec) problems {
	var p problems
	for _, s := range spec.Stages {
		compileInto(&p, env, expr.StageCondition, "stage "+s.Name+" enterWhen", s.EnterWhen)
	}
	for _, a := range spec.Alerts {
		c := expr.UserAlert
		if a.Scope == v1alpha1.AlertScopeJourney {
			c = expr.JourneyAlert
		}
		compileInto(&p, env, c, "alert "+a.Name+" expression", a.Expression)
	}
	p.addSelector("spec.sourceSelector", &spec.SourceSelector)
	return p
}

func (p *problems) addSelector(field string, sel *metav1.LabelSelector) {
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		p.add(field, err)
	}
}

// selectorFor parses a selector already known to be valid or reports it.
func selectorFor(sel *metav1.LabelSelector) (labels.Selector, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("spec.sourceSelector: %w", err)
	}
	return s, nil
}
