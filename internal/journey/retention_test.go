package journey_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// Once months are retired by policy, the users' states keep what the
// retired events made of them. A late event of a user some of whose events
// were retired goes on from the user's state (evaluating the user again
// from the events left would forget the stages entered before the
// horizon); one of a user with nothing retired is evaluated again, exactly.
func TestLateEventsAfterRetirement(t *testing.T) {
	smp := evaluate(t)
	ctx := context.Background()
	upTo, err := smp.store.LatestSeq(ctx, smp.sources)
	if err != nil {
		t.Fatal(err)
	}
	horizon := time.Date(smp.asOf.Year(), smp.asOf.Month(), 1, 0, 0, 0, 0, time.UTC)
	before := smp.eng.Replay("default", "streaming-journey", smp.users, smp.asOf)

	// old: a user who entered a stage before the horizon and has events
	// after it; fresh: a user all of whose events are after the horizon.
	var old, fresh string
	for i := range smp.users.Len() {
		u := smp.users.At(i)
		switch last := u.Last(); {
		case old == "" && len(u.Moves()) > 0 && u.Moves()[0].At.Before(horizon) && last.After(horizon.Add(48*time.Hour)):
			old = u.User
		case fresh == "" && !u.RemembersBefore(horizon) && last.After(horizon.Add(48*time.Hour)) && len(u.Moves()) > 0:
			fresh = u.User
		}
	}
	if old == "" || fresh == "" {
		t.Fatalf("the sample has no user with history on both sides of %s (%q) or after it only (%q)", horizon, old, fresh)
	}
	oldMoves := smp.users.Get(old).Moves()

	res, err := smp.store.Retire(ctx, store.RetireRequest{Before: horizon, Actor: "test", Reason: "retention test"})
	if err != nil || res.Entry == nil {
		t.Fatalf("Retire: %+v, %v", res, err)
	}
	late := func(user string, at time.Time) store.Event {
		return store.Event{Source: "default/catalog-views", Namespace: "default", EventID: "late-" + user, UserID: user, Touchpoint: "catalog",
			System: "test", Type: "catalog.title_viewed", OccurredAt: at, RunID: "late"}
	}
	if _, err := smp.store.Commit(ctx, store.Batch{Source: "default/catalog-views",
		Events: []store.Event{late(old, horizon.Add(time.Hour)), late(fresh, horizon.Add(time.Minute))}}); err != nil {
		t.Fatal(err)
	}
	newUpTo, _ := smp.store.LatestSeq(ctx, smp.sources)
	changed, inPlace, err := smp.eng.Update(ctx, smp.store, smp.sources, smp.users, upTo, newUpTo)
	if err != nil {
		t.Fatal(err)
	}
	if inPlace != 1 || len(changed) != 2 {
		t.Errorf("changed %v, %d late events in place; want both users, old's in place", changed, inPlace)
	}
	if got := smp.users.Get(old).Moves(); len(got) < len(oldMoves) || got[0] != oldMoves[0] {
		t.Errorf("%s's moves were %v, are %v: what the retired events made of the user is lost", old, oldMoves, got)
	}

	// What is left in the store, evaluated afresh: exact for fresh, who
	// lost nothing; short of what the states remember for the others.
	retained := smp.eng.NewUsers()
	if _, _, err := smp.eng.Update(ctx, smp.store, smp.sources, retained, 0, newUpTo); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(smp.users.Get(fresh).MarshalState(), retained.Get(fresh).MarshalState()) {
		t.Errorf("%s, with nothing retired, was not evaluated again exactly", fresh)
	}
	after := smp.eng.Replay("default", "streaming-journey", smp.users, smp.asOf)
	afresh := smp.eng.Replay("default", "streaming-journey", retained, smp.asOf)
	var forgotten bool
	for i, f := range after.Funnel {
		if f.Entered < before.Funnel[i].Entered {
			t.Errorf("%s: %d entered before the retirement, %d after", f.From, before.Funnel[i].Entered, f.Entered)
		}
		forgotten = forgotten || afresh.Funnel[i].Entered < f.Entered
	}
	if !forgotten {
		t.Error("the retained events alone give the same funnel: the retirement proves nothing")
	}
}
