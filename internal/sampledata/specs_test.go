package sampledata

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/local"
)

// The admission rules of the CRDs that plain Go types do not carry.
var (
	sourceName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsLabel   = sourceName
	schedule   = regexp.MustCompile(`^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*?/,-]+( +[0-9A-Za-z*?/,-]+){4})$`)
	timeZone   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)
	stageName  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$`)
	alertName  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	attrName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
)

func TestSpecsLoadStrictly(t *testing.T) {
	dir, _ := generate(t, DefaultConfig())
	folder, err := local.Load(dir)
	if err != nil {
		t.Fatalf("local.Load: %v", err)
	}
	if len(folder.Sources) != 6 || len(folder.Rules) != 3 || len(folder.Maps) != 1 {
		t.Fatalf("loaded %d sources, %d rules, %d maps; want 6, 3, 1", len(folder.Sources), len(folder.Rules), len(folder.Maps))
	}
	touchpoints := map[string]bool{}
	for _, s := range folder.Sources {
		name := s.Name
		if s.Namespace != local.DefaultNamespace {
			t.Errorf("%s: namespace %q; the specs must not set one", name, s.Namespace)
		}
		if len(name) > 45 || !sourceName.MatchString(name) {
			t.Errorf("source name %q is not a DNS label of at most 45 characters", name)
		}
		if s.Labels["journey.cjm.dev/product"] != "streaming" || s.Labels["journey.cjm.dev/domain"] == "" {
			t.Errorf("%s: labels %v", name, s.Labels)
		}
		sp := s.Spec
		touchpoints[sp.Touchpoint] = true
		if !dnsLabel.MatchString(sp.Touchpoint) {
			t.Errorf("%s: touchpoint %q", name, sp.Touchpoint)
		}
		if sp.Financial != (sp.Touchpoint == "billing") {
			t.Errorf("%s: financial %v", name, sp.Financial)
		}
		if sp.Batch == nil || sp.Webhook != nil || sp.Batch.File == nil || sp.Batch.HTTP != nil || sp.Batch.SQL != nil {
			t.Fatalf("%s: want a batch source with the file connector", name)
		}
		if !schedule.MatchString(sp.Batch.Schedule) {
			t.Errorf("%s: schedule %q", name, sp.Batch.Schedule)
		}
		if sp.Batch.TimeZone != nil && !timeZone.MatchString(*sp.Batch.TimeZone) {
			t.Errorf("%s: timeZone %q", name, *sp.Batch.TimeZone)
		}
		if _, err := time.LoadLocation(*sp.Batch.TimeZone); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		fc := sp.Batch.File
		if fc.URL != "" || fc.Path == "" || filepath.IsAbs(fc.Path) {
			t.Errorf("%s: file connector %+v; want a relative path", name, fc)
		}
		if _, err := os.Stat(filepath.Join(s.Dir, fc.Path)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		wantFormat := v1alpha1.FileFormatJSONLines
		if strings.HasSuffix(fc.Path, ".csv") {
			wantFormat = v1alpha1.FileFormatCSV
		}
		if fc.Format != wantFormat {
			t.Errorf("%s: format %s for %s", name, fc.Format, fc.Path)
		}
		for a := range sp.Mapping.Attributes {
			if !attrName.MatchString(a) {
				t.Errorf("%s: attribute name %q", name, a)
			}
		}
	}
	for _, tp := range []string{"crm", "catalog", "playback", "billing", "support", "feedback"} {
		if !touchpoints[tp] {
			t.Errorf("no source for touchpoint %s", tp)
		}
	}

	// Checks: one kind each, DNS names, and names unique among the rules that
	// select a source (run summaries count failures by check name).
	for _, s := range folder.Sources {
		names := map[string]string{}
		for _, r := range folder.Rules {
			sel, err := metav1.LabelSelectorAsSelector(&r.Spec.SourceSelector)
			if err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
			if !sel.Matches(labels.Set(s.Labels)) {
				continue
			}
			for _, c := range r.Spec.Checks {
				if other, ok := names[c.Name]; ok {
					t.Errorf("source %s: check %s is in both %s and %s", s.Name, c.Name, other, r.Name)
				}
				names[c.Name] = r.Name
			}
		}
	}
	matched := map[string]int{}
	for _, r := range folder.Rules {
		for _, c := range r.Spec.Checks {
			kinds := 0
			for _, set := range []bool{c.Expression != "", c.Unique != nil, c.Relationship != nil, len(c.NotNull) > 0,
				c.AcceptedValues != nil, c.Freshness != nil, c.Volume != nil} {
				if set {
					kinds++
				}
			}
			if kinds != 1 || !dnsLabel.MatchString(c.Name) || len(c.Name) > 63 {
				t.Errorf("%s/%s: %d kinds of check, or a bad name", r.Name, c.Name, kinds)
			}
			switch c.Action {
			case v1alpha1.ActionReject, v1alpha1.ActionQuarantine, v1alpha1.ActionWarn:
			default:
				t.Errorf("%s/%s: action %q; every check states its action", r.Name, c.Name, c.Action)
			}
			if c.Volume != nil && c.Volume.MinRecords == nil && c.Volume.MaxChangePercent == nil {
				t.Errorf("%s/%s: volume needs minRecords or maxChangePercent", r.Name, c.Name)
			}
			if c.Freshness != nil && c.Freshness.MaxAge.Duration != FreshnessMaxAge*time.Second {
				t.Errorf("%s/%s: maxAge %s; expected.json assumes %ds", r.Name, c.Name, c.Freshness.MaxAge, FreshnessMaxAge)
			}
		}
		for _, s := range folder.Sources {
			sel, _ := metav1.LabelSelectorAsSelector(&r.Spec.SourceSelector)
			if sel.Matches(labels.Set(s.Labels)) {
				matched[r.Name]++
			}
		}
	}
	if matched[RuleBilling] != 1 || matched[RuleIdentity] != 5 || matched[RuleFeedHealth] != 4 {
		t.Errorf("rules match %v sources; want billing-controls 1, identity-controls 5, feed-health 4", matched)
	}

	jm := folder.Maps[0]
	if len(jm.Spec.Stages) != 6 {
		t.Errorf("%d stages, want 6", len(jm.Spec.Stages))
	}
	stages := map[string]bool{}
	for _, st := range jm.Spec.Stages {
		if !stageName.MatchString(st.Name) {
			t.Errorf("stage name %q", st.Name)
		}
		stages[st.Name] = true
	}
	scopes := map[v1alpha1.AlertScope]int{}
	for _, a := range jm.Spec.Alerts {
		if !alertName.MatchString(a.Name) {
			t.Errorf("alert name %q", a.Name)
		}
		scopes[a.Scope]++
		if a.Scope == v1alpha1.AlertScopeJourney && a.Labels["user"] != "" {
			t.Errorf("Journey-scoped alert %s sets the user label", a.Name)
		}
	}
	if scopes[v1alpha1.AlertScopeUser] == 0 || scopes[v1alpha1.AlertScopeJourney] == 0 {
		t.Errorf("alerts by scope %v; want a User- and a Journey-scoped one", scopes)
	}
	exit := false
	for _, f := range jm.Spec.Feedback {
		if !stages[f.OnEnter] || !dnsLabel.MatchString(f.Name) {
			t.Errorf("feedback %s on %s", f.Name, f.OnEnter)
		}
		exit = exit || (f.Name == "exit-survey" && f.OnEnter == "Churned")
	}
	if !exit {
		t.Error("no exit survey on Churned")
	}
}

// TestExpressions compiles every expression of the specs where it appears,
// and evaluates every mapping on every record of the data.
func TestExpressions(t *testing.T) {
	dir, _ := generate(t, DefaultConfig())
	folder, err := local.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	compile := func(where string, c expr.Context, e v1alpha1.Expression) cel.Program {
		t.Helper()
		prg, err := env.Program(c, string(e))
		if err != nil {
			t.Errorf("%s: %v", where, err)
		}
		return prg
	}
	for _, r := range folder.Rules {
		for _, c := range r.Spec.Checks {
			where := r.Name + "/" + c.Name
			switch {
			case c.Expression != "":
				compile(where, expr.CheckCondition, c.Expression)
			case c.Unique != nil:
				compile(where, expr.CheckValue, c.Unique.Key)
			case c.Relationship != nil:
				compile(where, expr.CheckValue, c.Relationship.Key)
			case c.AcceptedValues != nil:
				compile(where, expr.CheckValue, c.AcceptedValues.Key)
			}
			for _, e := range c.NotNull {
				compile(where, expr.CheckValue, e)
			}
		}
	}
	for _, m := range folder.Maps {
		for _, st := range m.Spec.Stages {
			compile("stage "+st.Name, expr.StageCondition, st.EnterWhen)
		}
		for _, a := range m.Spec.Alerts {
			c := expr.UserAlert
			if a.Scope == v1alpha1.AlertScopeJourney {
				c = expr.JourneyAlert
			}
			compile("alert "+a.Name, c, a.Expression)
		}
	}

	tl := scan(t, dir)
	for _, s := range folder.Sources {
		mp := s.Spec.Mapping
		required := map[string]cel.Program{
			"eventID": compile(s.Name+" eventID", expr.Mapping, mp.EventID),
			"userID":  compile(s.Name+" userID", expr.Mapping, mp.UserID),
			"type":    compile(s.Name+" type", expr.Mapping, mp.Type),
		}
		at := compile(s.Name+" occurredAt", expr.Mapping, mp.OccurredAt)
		optional := map[string]cel.Program{}
		if mp.Amount != "" {
			optional["amount"] = compile(s.Name+" amount", expr.Mapping, mp.Amount)
		}
		if mp.Currency != "" {
			optional["currency"] = compile(s.Name+" currency", expr.Mapping, mp.Currency)
		}
		for a, e := range mp.Attributes {
			optional[a] = compile(s.Name+" attribute "+a, expr.Mapping, e)
		}
		if t.Failed() {
			t.FailNow()
		}
		records := tl.decoded[s.Name]
		if len(records) == 0 {
			t.Fatalf("%s: no records", s.Name)
		}
		ids := map[string]int{}
		for _, rec := range records {
			in := map[string]any{"record": rec}
			for name, prg := range required {
				out, _, err := prg.Eval(in)
				if err != nil || out == types.NullValue {
					t.Fatalf("%s: spec.mapping.%s of %v: %v", s.Name, name, rec, err)
				}
				if v, ok := out.Value().(string); !ok || v == "" {
					t.Fatalf("%s: spec.mapping.%s is %v, want a non-empty string", s.Name, name, out)
				}
				if name == "eventID" {
					ids[out.Value().(string)]++
				}
			}
			out, _, err := at.Eval(in)
			if err != nil {
				t.Fatalf("%s: spec.mapping.occurredAt of %v: %v", s.Name, rec, err)
			}
			if _, ok := out.Value().(time.Time); !ok {
				t.Fatalf("%s: spec.mapping.occurredAt is %T, want a timestamp", s.Name, out.Value())
			}
			got := map[string]any{}
			for name, prg := range optional {
				if out, _, err := prg.Eval(in); err == nil && out != types.NullValue {
					got[name] = out.Value()
				}
			}
			switch s.Spec.Touchpoint {
			case "playback":
				if m, ok := got["minutes"].(float64); !ok || m <= 0 {
					t.Fatalf("playback minutes %v of %v", got["minutes"], rec)
				}
			case "billing":
				typ := rec["type"].(string)
				if strings.HasPrefix(typ, "invoice.") || typ == "charge.refunded" {
					if _, ok := got["amount"].(float64); !ok {
						t.Fatalf("billing %s: amount %v", typ, got["amount"])
					}
					if _, ok := got["paymentIntent"].(string); !ok {
						t.Fatalf("billing %s: paymentIntent %v", typ, got["paymentIntent"])
					}
				} else if got["amount"] != nil {
					t.Fatalf("billing %s: amount %v, want none", typ, got["amount"])
				}
				if typ == "charge.refunded" && got["amount"].(float64) >= 0 {
					t.Fatalf("a refund maps to amount %v, want a negative one", got["amount"])
				}
				if _, ok := got["plan"].(string); !ok && typ != "charge.refunded" {
					t.Fatalf("billing %s: plan %v", typ, got["plan"])
				}
			case "feedback":
				if _, ok := got["score"].(float64); !ok {
					t.Fatalf("feedback score %v", got["score"])
				}
			}
		}
		// Only billing repeats event IDs: its redeliveries.
		repeats := 0
		for _, n := range ids {
			repeats += n - 1
		}
		want := 0
		if s.Spec.Touchpoint == "billing" {
			want = int(tl.anomalies[AnomalyExactDuplicate])
		}
		if repeats != want {
			t.Errorf("%s: %d repeated event IDs, want %d", s.Name, repeats, want)
		}
	}
}
