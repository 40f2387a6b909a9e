package expr_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/expr"
)

func newEnv(t *testing.T) *expr.Env {
	t.Helper()
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestAcceptsTheExpressionsOfTheDesign(t *testing.T) {
	env := newEnv(t)
	for _, tc := range []struct {
		ctx expr.Context
		src string
	}{
		{expr.Mapping, "record.id"},
		{expr.Mapping, "timestamp(int(record.created))"},
		{expr.Mapping, "double(record.data.object.amount_paid) / 100.0"},
		{expr.Pagination, "records[size(records)-1].id"},
		{expr.PaginationCondition, "body.has_more"},
		{expr.CheckCondition, "event.amount == null || event.amount >= 0.0"},
		{expr.CheckCondition, `!event.type.startsWith("invoice.") || (event.amount != null && event.currency != null)`},
		{expr.CheckCondition, "event.userID.matches('^cus_[A-Za-z0-9]{6,}$')"},
		{expr.CheckValue, "record.data.object.payment_intent"},
		{expr.StageCondition, `event.touchpoint == "catalog"`},
		{expr.StageCondition, `user.sum("playback", "minutes", duration("168h")) >= 120.0`},
		{expr.StageCondition, `user.count("billing", "invoice.payment_failed", duration("720h")) > 0`},
		{expr.UserAlert, `user.count("billing", "invoice.payment_failed", duration("168h")) > 0 &&
			user.sum("playback", "minutes", duration("168h")) < 0.5 * user.sumBetween("playback", "minutes", duration("336h"), duration("168h"))`},
		{expr.UserAlert, `user.stage == "AtRisk" && now() - user.enteredAt > duration("24h")`},
		{expr.JourneyAlert, `journey.conversion("Trial", "Subscribed") < 0.15`},
		{expr.JourneyAlert, `journey.users("Churned") > 100`},
	} {
		src := strings.ReplaceAll(tc.src, "now()", "timestamp('2026-11-23T00:00:00Z')")
		if _, err := env.Compile(tc.ctx, src); err != nil {
			t.Errorf("%s %q: %v", tc.ctx, tc.src, err)
		}
	}
}

func TestRefusesMistakesWithAMessageAUserCanAct(t *testing.T) {
	env := newEnv(t)
	for _, tc := range []struct {
		ctx  expr.Context
		src  string
		want string
	}{
		{expr.Mapping, "recrd.id", "undeclared reference to 'recrd'"},
		{expr.Mapping, "record.id +", "Syntax error"},
		{expr.CheckCondition, "size(event.type)", "must be a condition (bool)"},
		{expr.CheckCondition, `event.usrID != ""`, `event has no field "usrID"`},
		{expr.StageCondition, `user.count("billing", "x") > 0`, "found no matching overload for 'count'"},
		{expr.StageCondition, `user.plan == "gold"`, "undefined field 'plan'"},
		{expr.UserAlert, `event.type == "x"`, "undeclared reference to 'event'"},
		{expr.JourneyAlert, `user.stage == "Trial"`, "undeclared reference to 'user'"},
		{expr.JourneyAlert, `journey.conversion("Trial") < 0.1`, "found no matching overload for 'conversion'"},
	} {
		_, err := env.Compile(tc.ctx, tc.src)
		if err == nil {
			t.Errorf("%s %q compiled", tc.ctx, tc.src)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %q: error %q, want one line containing %q", tc.ctx, tc.src, err, tc.want)
		}
	}
}

type history struct{ minutesNow, minutesBefore float64 }

func (h history) Count(tp, typ string, w time.Duration) int64 {
	if tp == "billing" && typ == "invoice.payment_failed" && w == 168*time.Hour {
		return 1
	}
	return 0
}

func (h history) Sum(tp, attr string, w time.Duration) float64 {
	if tp == "playback" && attr == "minutes" {
		return h.minutesNow
	}
	return 0
}

func (h history) SumBetween(tp, attr string, from, to time.Duration) float64 {
	if tp == "playback" && attr == "minutes" && from == 336*time.Hour && to == 168*time.Hour {
		return h.minutesBefore
	}
	return 0
}

type stats struct{}

func (stats) Users(stage string) int64 {
	return map[string]int64{"Trial": 200, "Subscribed": 20}[stage]
}
func (stats) Conversion(from, to string) float64 {
	if from == "Trial" && to == "Subscribed" {
		return 0.1
	}
	return 0
}

// The helpers reach the bound history with the arguments as written.
func TestHelpersEvaluate(t *testing.T) {
	env := newEnv(t)
	drop := `user.count("billing", "invoice.payment_failed", duration("168h")) > 0 &&
		user.sum("playback", "minutes", duration("168h")) < 0.5 * user.sumBetween("playback", "minutes", duration("336h"), duration("168h"))`
	prg, err := env.Program(expr.UserAlert, drop)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		h    history
		want bool
	}{{history{minutesNow: 30, minutesBefore: 300}, true}, {history{minutesNow: 200, minutesBefore: 300}, false}} {
		out, _, err := prg.Eval(map[string]any{"user": expr.NewUser("AtRisk", time.Now(), tc.h)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Value() != tc.want {
			t.Errorf("streaming %v→%v minutes: alert %v, want %v", tc.h.minutesBefore, tc.h.minutesNow, out.Value(), tc.want)
		}
	}

	stage, err := env.Program(expr.UserAlert, `user.stage == "AtRisk"`)
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := stage.Eval(map[string]any{"user": expr.NewUser("AtRisk", time.Now(), history{})}); err != nil || out.Value() != true {
		t.Errorf("user.stage: %v, %v", out, err)
	}

	// A dyn argument of the wrong type at run time is an evaluation error
	// (the condition does not hold), not a panic.
	dyn, err := env.Program(expr.StageCondition, `user.count(event.attributes.tp, "x", duration("1h")) > 0`)
	if err != nil {
		t.Fatal(err)
	}
	event := map[string]any{"attributes": map[string]any{"tp": 5}}
	if out, _, err := dyn.Eval(map[string]any{"event": event, "user": expr.NewUser("", time.Now(), history{})}); err == nil {
		t.Errorf("count(5, ...) evaluated to %v", out)
	}
	event["attributes"] = map[string]any{"tp": "billing"}
	if _, _, err := dyn.Eval(map[string]any{"event": event, "user": expr.NewUser("", time.Now(), history{})}); err != nil {
		t.Errorf("count(\"billing\", ...): %v", err)
	}

	conv, err := env.Program(expr.JourneyAlert, `journey.conversion("Trial", "Subscribed") < 0.15 && journey.users("Trial") == 200`)
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := conv.Eval(map[string]any{"journey": expr.NewJourney(stats{})}); err != nil || out.Value() != true {
		t.Errorf("journey helpers: %v, %v", out, err)
	}
}
