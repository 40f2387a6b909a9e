package pipeline

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// lookupStore answers the pipeline's lookups from fixed sets.
type lookupStore struct {
	store.Store
	events, keys, users, held map[string]bool
	horizon                   time.Time
}

func (s lookupStore) Horizon(context.Context) (time.Time, error) { return s.horizon, nil }

func pick(set map[string]bool, want []string) map[string]bool {
	out := map[string]bool{}
	for _, w := range want {
		if set[w] {
			out[w] = true
		}
	}
	return out
}

func (s lookupStore) ExistingEvents(_ context.Context, _ string, ids []string) (map[string]bool, error) {
	return pick(s.events, ids), nil
}
func (s lookupStore) HeldInQuarantine(_ context.Context, _ string, hashes []string) (map[string]bool, error) {
	return pick(s.held, hashes), nil
}
func (s lookupStore) ExistingKeys(_ context.Context, _, _ string, keys []string, _ time.Time) (map[string]bool, error) {
	return pick(s.keys, keys), nil
}
func (s lookupStore) KnownUsers(_ context.Context, _, _ string, users []string) (map[string]bool, error) {
	return pick(s.users, users), nil
}

func testSource() runconfig.Source {
	return runconfig.Source{
		Namespace: "media", Name: "billing",
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "billing", System: "stripe",
			Mapping: v1alpha1.EventMapping{
				EventID: "record.id", UserID: "record.data.object.customer", OccurredAt: "timestamp(int(record.created))", Type: "record.type",
				Amount: "record.data.object.amount", Currency: "record.data.object.currency",
				Attributes: map[string]v1alpha1.Expression{"pi": "record.data.object.pi", "meta": "record.meta", "n": "record.data.object.n"},
			},
		},
		Rules: []runconfig.Rule{{Name: "controls", Checks: []v1alpha1.Check{
			{Name: "non-negative", Expression: "event.amount == null || event.amount >= 0.0", Message: "refunds go elsewhere", Action: v1alpha1.ActionQuarantine},
			{Name: "one-per-intent", Unique: &v1alpha1.UniqueCheck{Key: "record.data.object.pi", Window: &metav1.Duration{Duration: time.Hour}}, Action: v1alpha1.ActionQuarantine},
			{Name: "known", Relationship: &v1alpha1.RelationshipCheck{Key: "event.userID", Touchpoint: "crm"}, Action: v1alpha1.ActionQuarantine},
			{Name: "required", NotNull: []v1alpha1.Expression{"event.userID", "event.currency"}, Action: v1alpha1.ActionWarn},
			{Name: "currency", AcceptedValues: &v1alpha1.AcceptedValuesCheck{Key: "event.currency", Values: []string{"usd", "eur"}}, Action: v1alpha1.ActionWarn},
			{Name: "live", Expression: "!has(record.livemode) || record.livemode", Action: v1alpha1.ActionReject},
			{Name: "flagged", Expression: "record.flag", Action: v1alpha1.ActionWarn},
			{Name: "one-per-n", Unique: &v1alpha1.UniqueCheck{Key: "record.data.object.n"}, Action: v1alpha1.ActionQuarantine},
		}}},
	}
}

// testInputs is a batch with every kind of record the pipeline sorts:
// undecodable, unmappable (missing, null, wrong type), duplicates of the
// store and of the batch, and failures of every check.
func testInputs(n int) []Input {
	in := make([]Input, 0, n)
	for i := range n {
		if i%50 == 7 {
			in = append(in, Input{Undecodable: &connector.DecodeError{Raw: []byte(fmt.Sprintf("{broken %d", i)), Reason: "not JSON"}})
			continue
		}
		obj := map[string]any{
			"customer": fmt.Sprintf("cus_%d", i%20), "amount": float64(i%300) - 5, "currency": "usd",
			"pi": fmt.Sprintf("pi_%d", i/3), "n": int64(i % 400),
		}
		rec := map[string]any{"id": fmt.Sprintf("evt_%d", i), "created": int64(1756684800 + i), "type": "invoice.paid", "data": map[string]any{"object": obj}}
		switch i % 13 {
		case 1:
			delete(obj, "customer") // mapping: no such key
		case 2:
			obj["customer"] = nil // mapping: null
		case 3:
			obj["customer"] = "cus_unknown"
		case 4:
			obj["currency"] = "xxx"
		case 5:
			delete(obj, "currency")
		case 6:
			rec["livemode"] = false
		case 7:
			rec["livemode"] = "yes" // the expression cannot be evaluated
		case 8:
			rec["data"] = "not an object" // paths fall back to CEL's errors
		case 9:
			obj["amount"] = map[string]any{"value": 1} // mapping: not a number
		case 10:
			rec["created"] = float64(1756684800 + i)
			obj["amount"] = "12.50"
		case 11:
			rec["flag"] = i%2 == 0
			rec["meta"] = map[string]any{"tags": []any{"a", int64(i)}}
		case 12:
			rec["id"] = fmt.Sprintf("evt_%d", i-12) // a repeat within the batch
		}
		if i%97 == 0 {
			rec["flag"] = "true" // a string, not a bool: false
		}
		in = append(in, Input{Record: connector.Record(rec)})
	}
	return in
}

// TestWorkersChangeNothing: a batch checked on several workers comes out
// exactly as on one: the same events, quarantined records, unique keys and
// counts, in the same order, with the same reasons.
func TestWorkersChangeNothing(t *testing.T) {
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	st := lookupStore{
		events: map[string]bool{"evt_3": true, "evt_100": true},
		keys:   map[string]bool{"pi_40": true, "17": true},
		users:  map[string]bool{},
		held:   map[string]bool{},
	}
	for u := range 20 {
		st.users[fmt.Sprintf("cus_%d", u)] = true
	}
	in := testInputs(2000)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var results []*Result
	for _, workers := range []int{1, 2, 4, 7} {
		p, err := New(env, testSource())
		if err != nil {
			t.Fatal(err)
		}
		p.Workers = workers
		res, err := p.Process(context.Background(), st, "run-1", now, in)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	want := results[0]
	for check, min := range map[string]int64{
		CheckDecode: 1, CheckMapping: 1, "non-negative": 1, "one-per-intent": 1, "known": 1, "required": 1,
		"currency": 1, "live": 1, "flagged": 1, "one-per-n": 1,
	} {
		if want.Failed[check] < min {
			t.Errorf("the test batch fails %s %d times; it should exercise it", check, want.Failed[check])
		}
	}
	if want.Duplicates < 2 || len(want.Events) == 0 || len(want.UniqueKeys) == 0 || want.Rejected == 0 || want.Warnings == 0 {
		t.Errorf("the test batch should have duplicates, events, keys, rejects and warnings: %+v", want)
	}
	for i, got := range results[1:] {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("with %d workers the result differs from one worker's", []int{2, 4, 7}[i])
			if !reflect.DeepEqual(got.Quarantine, want.Quarantine) {
				for k := range min(len(got.Quarantine), len(want.Quarantine)) {
					if !reflect.DeepEqual(got.Quarantine[k], want.Quarantine[k]) {
						g, w := got.Quarantine[k], want.Quarantine[k]
						t.Errorf("first difference in quarantine[%d]: %s %q %s, want %s %q %s", k, g.Check, g.Reason, g.Raw, w.Check, w.Reason, w.Raw)
						break
					}
				}
			}
		}
	}
	// Reasons as the checks give them, messages included.
	reasons := map[string]bool{}
	for _, q := range want.Quarantine {
		for _, r := range strings.Split(q.Reason, "; ") {
			reasons[r] = true
		}
	}
	for _, r := range []string{
		"spec.mapping.userID: no such key: customer",
		"spec.mapping.userID is null or empty",
		"spec.mapping.amount: want a number, got map[string]interface {}",
		`known: "cus_unknown" has no crm event`,
	} {
		if !reasons[r] {
			t.Errorf("no quarantined record with reason %q", r)
		}
	}
}

// TestReusedPipeline: one pipeline checking batch after batch, of
// different sizes, and several batches at once (as the webhook receiver's
// requests do), gives each the result a fresh pipeline gives it: nothing of
// one batch stays behind in the next.
func TestReusedPipeline(t *testing.T) {
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	st := lookupStore{events: map[string]bool{"evt_3": true}, keys: map[string]bool{"pi_40": true}, users: map[string]bool{"cus_1": true, "cus_2": true}}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	batches := [][]Input{testInputs(2000), testInputs(300), testInputs(1200)[600:], testInputs(5)}
	want := make([]*Result, len(batches))
	for i, in := range batches {
		fresh, err := New(env, testSource())
		if err != nil {
			t.Fatal(err)
		}
		if want[i], err = fresh.Process(context.Background(), st, "run-1", now, in); err != nil {
			t.Fatal(err)
		}
	}
	p, err := New(env, testSource())
	if err != nil {
		t.Fatal(err)
	}
	check := func(i int, how string) {
		got, err := p.Process(context.Background(), st, "run-1", now, batches[i])
		if err != nil {
			t.Error(err)
			return
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("batch %d %s differs from a fresh pipeline's result", i, how)
		}
	}
	for round := range 2 {
		for i := range batches {
			check(i, fmt.Sprintf("in turn (round %d)", round))
		}
	}
	var wg sync.WaitGroup
	for k := range 8 {
		wg.Go(func() { check(k%len(batches), "beside others") })
	}
	wg.Wait()
}

// TestFieldPaths: an expression that only selects fields reads them from
// the maps, and gets what CEL would, null, errors and all.
func TestFieldPaths(t *testing.T) {
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for src, isPath := range map[string]bool{
		"record.a": true, "record.a.b.c": true, "event.userID": true, "event.attributes.pi": true,
		"has(record.a)": false, `record["a"]`: false, "record.a + 1": false, `"x"`: false, "record": false,
	} {
		c := expr.CheckValue
		p, err := newProgram(env, c, src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := p.path != nil; got != isPath {
			t.Errorf("%s: field path %v, want %v", src, got, isPath)
		}
	}
	records := []map[string]any{
		{},
		{"a": nil},
		{"a": "x"}, {"a": ""}, {"a": int64(3)}, {"a": 2.5}, {"a": true}, {"a": false},
		{"a": []any{"x", int64(1)}}, {"a": map[string]any{"b": nil}},
		{"a": map[string]any{"b": map[string]any{"c": "deep"}}},
		{"a": map[string]any{"b": map[string]any{"c": int64(-1)}}},
		{"a": map[string]any{"b": map[string]any{}}},
		{"a": map[string]any{"b": "not a map"}},
		{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": 1.0}}}},
		{"a": map[string]any{"b": map[string]any{"c": []any{}}}},
		{"a": uint64(7)}, {"a": int32(7)}, {"a": time.Unix(0, 0).UTC()},
	}
	events := []store.Event{
		{Source: "ns/s", EventID: "e", UserID: "u", Type: "t", OccurredAt: time.Unix(5, 0).UTC(),
			Attributes: map[string]any{"pi": "pi_1", "n": int64(4), "m": map[string]any{"k": "v"}}},
		{Source: "s", EventID: "e2", UserID: "u2", Type: "t", Touchpoint: "tp", System: "sy", Amount: ptr(-2.5), Currency: "eur"},
	}
	srcs := []string{"record.a", "record.a.b", "record.a.b.c", "event.userID", "event.eventID", "event.type", "event.touchpoint",
		"event.source", "event.system", "event.amount", "event.currency", "event.attributes", "event.attributes.pi",
		"event.attributes.n", "event.attributes.m", "event.attributes.m.k", "event.attributes.missing", "event.occurredAt"}
	for _, src := range srcs {
		fast, err := newProgram(env, expr.CheckValue, src)
		if err != nil {
			t.Fatal(err)
		}
		slow := &program{prg: fast.prg}
		for _, r := range records {
			for i := range events {
				a := &activation{record: r, event: EventValue{Ev: &events[i], Adapter: env.Adapter()}}
				for _, asNative := range []bool{false, true} {
					fv, fn, ferr := fast.eval(a, asNative)
					sv, sn, serr := slow.eval(a, asNative)
					if fmt.Sprint(ferr) != fmt.Sprint(serr) || fn != sn || !reflect.DeepEqual(fv, sv) {
						t.Errorf("%s over %v (native %v): (%#v, %v, %v), CEL says (%#v, %v, %v)", src, r, asNative, fv, fn, ferr, sv, sn, serr)
					}
				}
				fb, ferr := fast.cond(a)
				sb, serr := slow.cond(a)
				if fb != sb || fmt.Sprint(ferr) != fmt.Sprint(serr) {
					t.Errorf("%s over %v as a condition: (%v, %v), CEL says (%v, %v)", src, r, fb, ferr, sb, serr)
				}
			}
		}
	}
}

// TestEventValue: CEL over the event variable reads what it would read
// from the map EventVars builds, whatever the expression does with it.
func TestEventValue(t *testing.T) {
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	events := []store.Event{
		{Source: "ns/billing", EventID: "e1", UserID: "u1", Type: "invoice.paid", Touchpoint: "billing", System: "stripe",
			OccurredAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Amount: ptr(12.5), Currency: "usd",
			Attributes: map[string]any{"plan": "pro", "seats": int64(3), "tags": []any{"a", "b"}}},
		{Source: "crm", EventID: "e2", UserID: "u2", Type: "signup", OccurredAt: time.Unix(0, 0).UTC()},
	}
	for _, src := range []string{
		`event.amount == null || event.amount >= 0.0`, `!event.type.startsWith("invoice.") || event.amount != null`,
		`event.source == "billing"`, `event.currency`, `event.occurredAt < timestamp("2025-06-01T00:00:00Z")`,
		`has(event.amount)`, `has(event.attributes.plan)`, `"plan" in event.attributes`, `"amount" in event`,
		`size(event)`, `event.exists(k, k == "userID")`, `event.all(k, event[k] != "")`, `event["userID"]`,
		`event.attributes.seats * 2`, `event.attributes.tags[1]`, `event == {"x": 1}`, `event.attributes.missing`,
		`string(event.amount)`, `event.?attributes.?plan.orValue("free")`, `[event.userID, event.eventID]`,
	} {
		prg, err := env.Program(expr.CheckValue, src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		for i := range events {
			got, _, gerr := prg.Eval(&activation{record: map[string]any{}, event: EventValue{Ev: &events[i], Adapter: env.Adapter()}})
			want, _, werr := prg.Eval(map[string]any{"record": map[string]any{}, "event": EventVars(events[i])})
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || (gerr == nil && got.Equal(want) != types.True && fmt.Sprint(got) != fmt.Sprint(want)) {
				t.Errorf("%s over event %s: %v (%v), over the map: %v (%v)", src, events[i].EventID, got, gerr, want, werr)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }
