package journey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/run"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/sampledata"
	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/internal/validate"
)

// sample is the default sample data, ingested, and its JourneyMap evaluated.
type sample struct {
	eng     *journey.Engine
	users   *journey.Users
	m       *sampledata.Manifest
	asOf    time.Time
	spec    v1alpha1.JourneyMapSpec
	store   store.Store
	sources []string
}

// evaluate ingests the default sample data and evaluates its JourneyMap as
// of the data's last day.
func evaluate(t *testing.T) sample {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	m, err := sampledata.Generate(ctx, dir, sampledata.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	asOf, err := time.Parse(time.RFC3339, m.Config.AsOf)
	if err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "journey.db")
	var out bytes.Buffer
	if err := run.Run(ctx, []string{"-f", dir, "--store", dsn, "--as-of", m.Config.AsOf, "--output", "json", "--html", t.TempDir()}, &out); err != nil {
		t.Fatal(err)
	}
	// `journey run --output json` reports the map beside the sources.
	var res run.Output
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Maps) != 1 || len(res.Maps[0].Stages) != 6 || len(res.Maps[0].Conversions) != 5 || res.Maps[0].Users == 0 {
		t.Fatalf("maps in --output json: %+v", res.Maps)
	}
	if page, err := os.ReadFile(res.Maps[0].Page); err != nil || !bytes.Contains(page, []byte("StreamingDropAfterBillingFailure")) || !bytes.Contains(page, []byte("exit-survey")) {
		t.Errorf("the journey map page %q was not written with the alerts and surveys: %v", res.Maps[0].Page, err)
	}
	for _, a := range res.Maps[0].Alerts {
		if a.Name == "StreamingDropAfterBillingFailure" && a.Firing != m.Journey.AlertsAtAsOf[a.Name] {
			t.Errorf("journey run reports %s firing for %d users, want %d", a.Name, a.Firing, m.Journey.AlertsAtAsOf[a.Name])
		}
	}
	folder, err := local.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(folder.Maps) != 1 {
		t.Fatalf("%d journey maps in the sample data", len(folder.Maps))
	}
	jm := folder.Maps[0]
	sel, err := validate.Selector(&jm.Spec.SourceSelector)
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, s := range folder.Sources {
		if sel.Matches(labelSet(s.Labels)) {
			sources = append(sources, s.Namespace+"/"+s.Name)
		}
	}
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := journey.NewEngine(env, jm.Spec)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	upTo, err := st.LatestSeq(ctx, sources)
	if err != nil {
		t.Fatal(err)
	}
	users, err := eng.EvaluateStore(ctx, st, sources, upTo)
	if err != nil {
		t.Fatal(err)
	}
	return sample{eng: eng, users: users, m: m, asOf: asOf, spec: jm.Spec, store: st, sources: sources}
}

func TestJourneyOnTheSampleData(t *testing.T) {
	smp := evaluate(t)
	eng, users, m, asOf := smp.eng, smp.users, smp.m, smp.asOf
	snap, mem := eng.Snapshot("default", "streaming-journey", users, asOf, nil)

	stage := map[string]int64{}
	var inStages int64
	for _, s := range snap.Stages {
		stage[s.Name] = s.Users
		inStages += s.Users
	}
	if inStages > snap.Users || snap.Users == 0 {
		t.Errorf("%d users in stages of %d users", inStages, snap.Users)
	}
	// Churned is the last stage: every user who ever churned is in it.
	if got, want := stage["Churned"], m.Journey.Churned; got != want {
		t.Errorf("Churned: %d users, the generator churned %d", got, want)
	}
	funnel := map[string]journey.FunnelStep{}
	for _, f := range snap.Funnel {
		funnel[f.From+">"+f.To] = f
	}
	if got, want := funnel["Trial>Subscribed"].Entered, m.Journey.Trials; got != want {
		t.Errorf("users who entered Trial: %d, the generator started %d trials", got, want)
	}
	// Converted: paid within the conversion window of starting a trial,
	// even when already Engaged by streaming during the trial.
	if f := funnel["Trial>Subscribed"]; f.Converted != m.Journey.TrialConversions || f.DropOff != f.Entered-f.Converted {
		t.Errorf("Trial>Subscribed: %+v; the generator converted %d trials", f, m.Journey.TrialConversions)
	}

	// The alert has `for: 1h`: at the first evaluation it is pending for
	// exactly the users the generator measured, and fires for none.
	alert := func(s journey.Snapshot, name string) journey.AlertState {
		for _, a := range s.Alerts {
			if a.Name == name {
				return a
			}
		}
		t.Fatalf("no alert %s", name)
		return journey.AlertState{}
	}
	want := m.Journey.AlertsAtAsOf["StreamingDropAfterBillingFailure"]
	if want == 0 {
		t.Fatal("the sample data plants no streaming drop")
	}
	drop := alert(snap, "StreamingDropAfterBillingFailure")
	if drop.Pending != want || drop.Firing != 0 {
		t.Errorf("first evaluation: pending %d, firing %d; want %d pending", drop.Pending, drop.Firing, want)
	}
	// Held for an hour (as the memory says), they fire, one per user.
	for k := range mem {
		mem[k] = asOf.Add(-time.Hour)
	}
	snap2, _ := eng.Snapshot("default", "streaming-journey", users, asOf, mem)
	drop = alert(snap2, "StreamingDropAfterBillingFailure")
	if drop.Firing != want || len(drop.Instances) != int(want) || drop.Instances[0].User == "" {
		t.Errorf("after `for`: firing %d (%d instances), want %d", drop.Firing, len(drop.Instances), want)
	}
	// A one-shot run replays the last hour at the evaluation interval.
	if r := alert(eng.Replay("default", "streaming-journey", users, asOf), "StreamingDropAfterBillingFailure"); r.Firing != want {
		t.Errorf("replayed: firing %d, want %d", r.Firing, want)
	}
	// Survey triggers in a one-shot run: every churned user would get the
	// exit survey, and exactly those the generator made answer it did so
	// after churning.
	for _, f := range eng.Feedback(users) {
		if f.Name == "exit-survey" && (f.Sent != m.Journey.Churned || f.Responses != m.Journey.ExitSurveyResponses) {
			t.Errorf("exit-survey: %d entered, %d responded; want %d and %d", f.Sent, f.Responses, m.Journey.Churned, m.Journey.ExitSurveyResponses)
		}
	}
	low := alert(snap2, "TrialConversionLow")
	if rate := funnel["Trial>Subscribed"].Rate; (rate < 0.15) != (low.Firing+low.Pending == 1) {
		t.Errorf("TrialConversionLow firing %d pending %d with a Trial>Subscribed rate of %.2f", low.Firing, low.Pending, rate)
	}
}

// The engine keeps only the points its helper calls can see, back to each
// one's longest window. The same map written so that no bound can be read
// from it (computed windows) keeps every event: both must agree on every
// user and every count, alerts included.
func TestBoundedHistoryAgreesWithAllEvents(t *testing.T) {
	smp := evaluate(t)
	if !smp.eng.Persistent() {
		t.Fatal("the sample map's helper calls are all constant, but the engine keeps every event")
	}
	spec := *smp.spec.DeepCopy()
	computed := func(x v1alpha1.Expression) v1alpha1.Expression {
		return v1alpha1.Expression(strings.ReplaceAll(string(x), `duration("`, `duration("" + "`))
	}
	for i := range spec.Stages {
		spec.Stages[i].EnterWhen = computed(spec.Stages[i].EnterWhen)
	}
	for i := range spec.Alerts {
		spec.Alerts[i].Expression = computed(spec.Alerts[i].Expression)
	}
	env, _ := expr.NewEnv()
	all, err := journey.NewEngine(env, spec)
	if err != nil {
		t.Fatal(err)
	}
	if all.Persistent() {
		t.Fatal("computed windows, but the engine found a bound")
	}
	upTo, err := smp.store.LatestSeq(context.Background(), smp.sources)
	if err != nil {
		t.Fatal(err)
	}
	allUsers, err := all.EvaluateStore(context.Background(), smp.store, smp.sources, upTo)
	if err != nil {
		t.Fatal(err)
	}
	want := all.Replay("default", "streaming-journey", allUsers, smp.asOf)
	got := smp.eng.Replay("default", "streaming-journey", smp.users, smp.asOf)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bounded history:\n%+v\nevery event:\n%+v", got, want)
	}
	if got.Alerts[0].Firing == 0 || got.Stages[3].Users == 0 {
		t.Errorf("the comparison proves little: nothing fired or nobody is %s: %+v", got.Stages[3].Name, got)
	}
	for i := range smp.users.Len() {
		u, v := smp.users.At(i), allUsers.Get(smp.users.At(i).User)
		if u.Stage() != v.Stage() || !u.EnteredAt().Equal(v.EnteredAt()) || !reflect.DeepEqual(u.Moves(), v.Moves()) {
			t.Fatalf("user %s: bounded %s since %s via %v, every event %s since %s via %v",
				u.User, u.Stage(), u.EnteredAt(), u.Moves(), v.Stage(), v.EnteredAt(), v.Moves())
		}
	}
}

// A full evaluation, which reads the events in no order and orders each
// user's itself, gives every user the very state that reading them in the
// store's order does, also when users' hashes collide.
func TestFullEvaluationOrdersEventsItself(t *testing.T) {
	smp := evaluate(t)
	ctx := context.Background()
	upTo, err := smp.store.LatestSeq(ctx, smp.sources)
	if err != nil {
		t.Fatal(err)
	}
	ordered := smp.eng.NewUsers()
	if _, _, err := smp.eng.Update(ctx, smp.store, smp.sources, ordered, 0, upTo); err != nil {
		t.Fatal(err)
	}
	collided, err := journey.EvaluateStoreHashed(smp.eng, ctx, smp.store, smp.sources, upTo, func(u string) uint64 { return uint64(len(u) % 2) })
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*journey.Users{"full": smp.users, "full, hashes colliding": collided} {
		if got.Len() != ordered.Len() || got.Len() < 100 {
			t.Fatalf("%s: %d users, in the store's order %d", name, got.Len(), ordered.Len())
		}
		for i := range ordered.Len() {
			want := ordered.At(i)
			u := got.Get(want.User)
			if u == nil || !bytes.Equal(u.MarshalState(), want.MarshalState()) {
				t.Fatalf("%s: user %s differs from the evaluation in the store's order", name, want.User)
			}
		}
	}
}

// The same, for conditions that read every kind of event field: amounts,
// currencies, IDs, sources, systems and attributes.
func TestFullEvaluationKeepsWhatConditionsRead(t *testing.T) {
	smp := evaluate(t)
	ctx := context.Background()
	spec := *smp.spec.DeepCopy()
	spec.Alerts, spec.Feedback = nil, nil
	spec.Stages = []v1alpha1.Stage{
		{Name: "Paid", EnterWhen: `event.amount != null && event.amount > 10.0 && event.currency != null`},
		{Name: "Odd", EnterWhen: `event.eventID.size() % 2 == 1 && event.userID.endsWith("7")`},
		{Name: "Sourced", EnterWhen: `event.source.startsWith("billing") && event.system != "" && event.occurredAt > timestamp("2000-01-01T00:00:00Z")`},
		{Name: "Attributed", EnterWhen: `event.attributes.size() > 1`},
		{Name: "Watching", EnterWhen: `user.sum("playback", "minutes", duration("24h")) >= 60.0`},
	}
	env, _ := expr.NewEnv()
	eng, err := journey.NewEngine(env, spec)
	if err != nil {
		t.Fatal(err)
	}
	upTo, err := smp.store.LatestSeq(ctx, smp.sources)
	if err != nil {
		t.Fatal(err)
	}
	full, err := eng.EvaluateStore(ctx, smp.store, smp.sources, upTo)
	if err != nil {
		t.Fatal(err)
	}
	ordered := eng.NewUsers()
	if _, _, err := eng.Update(ctx, smp.store, smp.sources, ordered, 0, upTo); err != nil {
		t.Fatal(err)
	}
	snap := eng.Replay("default", "streaming-journey", full, smp.asOf)
	if want := eng.Replay("default", "streaming-journey", ordered, smp.asOf); !reflect.DeepEqual(snap, want) {
		t.Errorf("full:\n%+v\nin the store's order:\n%+v", snap, want)
	}
	for _, f := range snap.Funnel {
		if f.Entered == 0 {
			t.Errorf("nobody entered %s: the comparison proves little", f.From)
		}
	}
	for i := range ordered.Len() {
		want := ordered.At(i)
		if u := full.Get(want.User); u == nil || !bytes.Equal(u.MarshalState(), want.MarshalState()) {
			t.Fatalf("user %s differs from the evaluation in the store's order", want.User)
		}
	}
}

// Each user's moves run from no stage to their stage, forward in time, the
// last one when they entered it.
func TestMoves(t *testing.T) {
	smp := evaluate(t)
	moved := 0
	for i := range smp.users.Len() {
		u := smp.users.At(i)
		moves := u.Moves()
		if u.Stage() == "" {
			if len(moves) > 0 {
				t.Fatalf("user %s has no stage but moves %v", u.User, moves)
			}
			continue
		}
		last := moves[len(moves)-1]
		if moves[0].From != "" || last.To != u.Stage() || !last.At.Equal(u.EnteredAt()) {
			t.Fatalf("user %s in %s since %s: moves %v", u.User, u.Stage(), u.EnteredAt(), moves)
		}
		for k := 1; k < len(moves); k++ {
			if moves[k].From != moves[k-1].To || moves[k].At.Before(moves[k-1].At) {
				t.Fatalf("user %s: moves out of order %v", u.User, moves)
			}
		}
		moved += len(moves) - 1
	}
	if moved == 0 {
		t.Error("nobody moved between stages: the test proves little")
	}
}

// A user's state survives the store's encoding whole: an evaluator that
// restarts from saved states counts exactly what it counted before.
func TestUserStatesRoundTrip(t *testing.T) {
	smp := evaluate(t)
	again := smp.eng.NewUsers()
	for i := range smp.users.Len() {
		u := smp.users.At(i)
		back, err := smp.eng.UnmarshalState(u.User, u.MarshalState())
		if err != nil {
			t.Fatal(err)
		}
		again.Put(back)
	}
	want := smp.eng.Replay("default", "streaming-journey", smp.users, smp.asOf)
	if got := smp.eng.Replay("default", "streaming-journey", again, smp.asOf); !reflect.DeepEqual(got, want) {
		t.Errorf("after encoding:\n%+v\nbefore:\n%+v", got, want)
	}
	for _, bad := range [][]byte{nil, {9}, {1, 2}, append(smp.users.At(0).MarshalState()[:3:3], 0xff)} {
		if _, err := smp.eng.UnmarshalState("u", bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }
