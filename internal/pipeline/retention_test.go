package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/expr"
)

// An event that occurred before the store's retention horizon is held for
// review with the reason, not committed (the store would refuse the whole
// batch) and not dropped; a redelivery of a stored event is still a
// duplicate; events after the horizon go on.
func TestRetiredMonthsAreHeld(t *testing.T) {
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(env, testSource())
	if err != nil {
		t.Fatal(err)
	}
	horizon := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	st := lookupStore{events: map[string]bool{"evt_dup": true}, keys: map[string]bool{}, users: map[string]bool{"cus_1": true},
		held: map[string]bool{}, horizon: horizon}
	rec := func(id string, at time.Time) Input {
		return Input{Record: connector.Record{"id": id, "created": at.Unix(), "type": "invoice.paid",
			"data": map[string]any{"object": map[string]any{"customer": "cus_1", "amount": 12.5, "currency": "usd", "pi": "pi_" + id, "n": id}}}}
	}
	res, err := p.Process(context.Background(), st, "run-1", time.Now(), []Input{
		rec("evt_old", horizon.Add(-time.Hour)), rec("evt_new", horizon), rec("evt_dup", horizon.Add(-2*time.Hour)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 1 || res.Events[0].EventID != "evt_new" || res.Duplicates != 1 {
		t.Fatalf("events %v, duplicates %d, quarantine %+v", res.Events, res.Duplicates, res.Quarantine)
	}
	q := res.Quarantine[0]
	if len(res.Quarantine) != 1 || q.EventID != "evt_old" || q.Check != CheckRetention || !strings.Contains(q.Reason, "before the store's retention horizon 2025-09-01") ||
		q.Event == nil || *q.Event.Amount != 12.5 || res.Failed[CheckRetention] != 1 {
		t.Fatalf("held %+v (failed %v)", res.Quarantine, res.Failed)
	}
}
