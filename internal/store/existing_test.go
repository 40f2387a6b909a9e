package store

import (
	"testing"
)

// A batch that asks says which of its events were stored before it, on
// both write paths (postgres-copy sends every batch through COPY): not
// those it inserted, nor a repeat within it.
func TestReportExisting(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			s := b.new(t)
			commit(t, s, Batch{Source: "shop/stripe", Events: []Event{ev("e1", "u"), ev("e2", "u")}})
			commit(t, s, Batch{Source: "shop/web", Events: []Event{ev("e3", "u")}})
			all := Batch{Source: "shop/stripe", ReportExisting: true,
				Events: []Event{ev("e1", "u"), ev("e3", "u"), ev("e4", "u"), ev("e4", "u"), ev("e2", "u")}}
			res := commit(t, s, all)
			if got := keys(res.Existing); res.Inserted != 2 || len(got) != 2 || got[0] != "e1" || got[1] != "e2" {
				t.Fatalf("inserted %d, existing %v; want 2 (e3 of this source and e4) and [e1 e2]", res.Inserted, got)
			}
			fresh := commit(t, s, Batch{Source: "shop/stripe", ReportExisting: true, Events: []Event{ev("e5", "u")}})
			if fresh.Inserted != 1 || fresh.Existing != nil {
				t.Fatalf("a batch of new events: inserted %d, existing %v", fresh.Inserted, fresh.Existing)
			}
			plain := commit(t, s, Batch{Source: "shop/stripe", Events: []Event{ev("e5", "u")}})
			if plain.Inserted != 0 || plain.Existing != nil {
				t.Fatalf("a batch that does not ask: inserted %d, existing %v", plain.Inserted, plain.Existing)
			}
		})
	}
}
