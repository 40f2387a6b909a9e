// Package validate checks what admission cannot see in a journey spec:
// expressions that do not compile, schedules robfig/cron (the parser CronJob
// uses) refuses, time zones this system does not know, selectors that do not
// parse. The controllers report its findings as Stalled conditions and
// `journey lint` prints them; each problem names its field.
package validate

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/segment"
)

// Problems are "field: what is wrong" lines.
type Problems []string

func (p *Problems) add(field string, err error) {
	if err != nil {
		*p = append(*p, fmt.Sprintf("%s: %v", field, err))
	}
}

func (p Problems) String() string { return strings.Join(p, "; ") }

func compileInto(p *Problems, env *expr.Env, c expr.Context, field string, src v1alpha1.Expression) {
	if src == "" {
		return
	}
	_, err := env.Compile(c, string(src))
	p.add(field, err)
}

// Source checks a TouchpointSource's spec.
func Source(env *expr.Env, spec *v1alpha1.TouchpointSourceSpec) Problems {
	var p Problems
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
	if !segment.Source(spec) {
		// Admission refuses these; a folder run by `journey lint` has none.
		for field, src := range map[string]v1alpha1.Expression{"eventID": m.EventID, "userID": m.UserID, "occurredAt": m.OccurredAt, "type": m.Type} {
			if src == "" {
				p.add("spec.mapping."+field, errors.New("required: only a Segment source (spec.webhook.protocol: Segment) has a default"))
			}
		}
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

// Checks compiles every check of a ValidationRule; each problem names the
// check.
func Checks(env *expr.Env, checks []v1alpha1.Check) Problems {
	var p Problems
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

// Journey compiles a JourneyMap's stages and alerts and parses its selector.
func Journey(env *expr.Env, spec *v1alpha1.JourneyMapSpec) Problems {
	var p Problems
	// user.churnRisk is the churn model's: a map without one would read 0.
	needsModel := func(field string, c expr.Context, src v1alpha1.Expression) {
		if spec.Prediction != nil {
			return
		}
		if f, err := env.Footprint(c, string(src)); err == nil && f.ChurnRisk {
			p.add(field, fmt.Errorf("reads user.churnRisk, which needs spec.prediction (e.g. prediction: {horizon: 720h})"))
		}
	}
	for _, s := range spec.Stages {
		compileInto(&p, env, expr.StageCondition, "stage "+s.Name+" enterWhen", s.EnterWhen)
		needsModel("stage "+s.Name+" enterWhen", expr.StageCondition, s.EnterWhen)
	}
	for _, a := range spec.Alerts {
		c := expr.UserAlert
		if a.Scope == v1alpha1.AlertScopeJourney {
			c = expr.JourneyAlert
		}
		compileInto(&p, env, c, "alert "+a.Name+" expression", a.Expression)
		if c == expr.UserAlert {
			needsModel("alert "+a.Name+" expression", c, a.Expression)
		}
	}
	p.AddSelector("spec.sourceSelector", &spec.SourceSelector)
	return p
}

// AddSelector records a selector that does not parse.
func (p *Problems) AddSelector(field string, sel *metav1.LabelSelector) {
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		p.add(field, err)
	}
}

// Selector parses a selector, naming spec.sourceSelector in its error.
func Selector(sel *metav1.LabelSelector) (labels.Selector, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("spec.sourceSelector: %w", err)
	}
	return s, nil
}
