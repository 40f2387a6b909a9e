package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// monthly returns n payments, one in each of the months from first on.
func monthly(prefix string, first time.Time, n int) []Event {
	var out []Event
	for i := range n {
		e := payment(fmt.Sprintf("%s_%d", prefix, i), fmt.Sprint("u", i), 10+float64(i))
		e.OccurredAt = first.AddDate(0, i, 3)
		out = append(out, e)
	}
	return out
}

// Retiring months by policy: the events before the horizon go (whole
// partitions in PostgreSQL) with their keys; one ledger entry names who
// and why and keeps the hashes of the covered rows, so every entry still
// verifies; commits refuse events before the horizon; an edit of what the
// ledger kept, or of a row that remains, is caught.
func TestRetire(t *testing.T) {
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := b.new(t)
			// Entry 1 spans January to April; entry 2 is all in February;
			// playback events no entry covers, in January and May.
			commit(t, s, financialBatch("run-1", monthly("inv", jan, 4), []QuarantineRecord{held("neg_1", -5, "amount-non-negative")}))
			commit(t, s, financialBatch("run-2", monthly("feb", jan.AddDate(0, 1, 0), 1), nil))
			play := []Event{ev("p_jan", "u1"), ev("p_may", "u2")}
			play[0].OccurredAt, play[1].OccurredAt = jan.Add(time.Hour), jan.AddDate(0, 4, 0)
			commit(t, s, Batch{Source: "media/playback", Events: play})
			before := mustVerify(t, s, VerifyOptions{})

			if _, err := s.Retire(ctx, RetireRequest{Before: jan.AddDate(0, 2, 0)}); err == nil || !strings.Contains(err.Error(), "actor") {
				t.Fatalf("a retirement without who and why: %v", err)
			}
			if _, err := s.Retire(ctx, RetireRequest{Before: time.Now().AddDate(0, 1, 0), Actor: "a", Reason: "r"}); err == nil {
				t.Fatal("a retirement of the future was taken")
			}
			// Mid-March rounds down to March: January and February go.
			res, err := s.Retire(ctx, RetireRequest{Before: jan.AddDate(0, 2, 14), Actor: "alice@example.com", Reason: "retention 400d"})
			if err != nil {
				t.Fatal(err)
			}
			march := jan.AddDate(0, 2, 0)
			if !res.Horizon.Equal(march) || res.Events[billing] != 3 || res.Events["media/playback"] != 1 || res.Covered != 3 || res.Entry == nil {
				t.Fatalf("retired %+v", res)
			}
			if _, isPG := s.(*pgStore); isPG && !slices.Equal(res.Partitions, []string{"events_y2025m01", "events_y2025m02"}) {
				t.Fatalf("partitions dropped: %v", res.Partitions)
			}
			if h, err := s.Horizon(ctx); err != nil || !h.Equal(march) {
				t.Fatalf("Horizon = %v, %v", h, err)
			}
			e := res.Entry
			d, err := DecodeRetireDetail(e.Detail)
			if err != nil || e.Kind != EntryRetire || e.Actor != "alice@example.com" || d.Reason != "retention 400d" || e.Read != 4 || d.Covered != 3 {
				t.Fatalf("retire entry %+v, detail %+v (%v)", e, d, err)
			}
			var left []string
			if err := s.ScanEvents(ctx, EventQuery{Sources: []string{billing, "media/playback"}}, func(ev *Event, _ []byte) error {
				left = append(left, ev.EventID)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			slices.Sort(left)
			if !slices.Equal(left, []string{"inv_2", "inv_3", "p_may"}) {
				t.Fatalf("events left: %v", left)
			}
			rep := mustVerify(t, s, VerifyOptions{Anchors: []string{before.Head}})
			if rep.Retired != 3 || rep.Retirements != 1 || rep.Entries != before.Entries+1 {
				t.Fatalf("after retiring: %+v (before: %+v)", rep, before)
			}

			// Again: nothing to do, no entry.
			if again, err := s.Retire(ctx, RetireRequest{Before: march, Actor: "alice@example.com", Reason: "retention 400d"}); err != nil || again.Entry != nil {
				t.Fatalf("retired again: %+v, %v", again, err)
			}
			// An event before the horizon is refused, named; one after it
			// goes in, once.
			late := payment("feb_late", "u9", 3)
			late.OccurredAt = march.Add(-time.Hour)
			_, err = s.Commit(ctx, financialBatch("run-3", []Event{late}, nil))
			var retired *RetiredError
			if !errors.As(err, &retired) || retired.EventID != "feb_late" || !retired.Horizon.Equal(march) {
				t.Fatalf("an event before the horizon: %v", err)
			}
			late.OccurredAt = march
			if r := commit(t, s, financialBatch("run-3", []Event{late, late}, nil)); r.Inserted != 1 {
				t.Fatalf("inserted %d", r.Inserted)
			}
			if r := commit(t, s, financialBatch("run-4", []Event{late}, nil)); r.Inserted != 0 {
				t.Fatalf("a redelivery inserted %d", r.Inserted)
			}
			mustVerify(t, s, VerifyOptions{})

		})
	}
}

// retiredFixture is a store whose January and February were retired:
// entry 1 partly (two of its four events), entry 2 wholly.
func retiredFixture(t *testing.T, b backend) Store {
	t.Helper()
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := b.new(t)
	commit(t, s, financialBatch("run-1", monthly("inv", jan, 4), nil))
	commit(t, s, financialBatch("run-2", monthly("feb", jan.AddDate(0, 1, 0), 1), nil))
	if _, err := s.Retire(context.Background(), RetireRequest{Before: jan.AddDate(0, 2, 0), Actor: "alice@example.com", Reason: "retention 400d"}); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, s, VerifyOptions{})
	return s
}

// What the ledger keeps of retired rows is as tamper-evident as the rows
// themselves.
func TestRetiredRowsTampering(t *testing.T) {
	cases := []struct{ name, sql, want string }{
		{"kept hash edited", "UPDATE retired_rows SET row_hash = '00' || substr(row_hash, 3) WHERE entry = 2", "entry 2: its rows do not match"},
		{"kept row deleted", "DELETE FROM retired_rows WHERE entry = 1 AND amount = '10'", "entry 1: its rows do not match"},
		{"kept row moved to another entry", "UPDATE retired_rows SET entry = 1 WHERE entry = 2", "entry 1: its rows do not match"},
		{"kept amount edited", "UPDATE retired_rows SET amount = '99' WHERE entry = 2", "entry 3: the retired rows it keeps do not match"},
		{"remaining row of a partly retired entry edited", "UPDATE events SET amount = 1 WHERE event_id = 'inv_3'", "entry 1: its rows do not match"},
		{"retire entry's detail edited", `UPDATE ledger SET detail = replace(detail, 'retention 400d', 'asked by nobody') WHERE kind = 'retire'`, "entry 3: stored hash"},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					s := retiredFixture(t, b)
					rawExec(t, s, c.sql)
					_, err := s.Verify(context.Background(), VerifyOptions{})
					var broken *BrokenLinkError
					if !errors.As(err, &broken) || !strings.Contains(err.Error(), c.want) {
						t.Fatalf("after %q: Verify = %v, want %q", c.name, err, c.want)
					}
				})
			}
		})
	}
}

// Upgrading a store with events in place (migration 0008): PostgreSQL's
// events move into a partition per month with their sequence numbers, and
// SQLite's keep theirs as seq; what was stored is still found (a
// redelivery is a duplicate), and new events are numbered after them.
func TestUpgradeToPartitionedEvents(t *testing.T) {
	for _, b := range backends() {
		if !b.shared {
			continue // an in-memory database does not outlive its store
		}
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.dsn(t)
			old, err := openUpTo(ctx, dsn, "0007_stream_offsets.sql")
			if err != nil {
				t.Fatal(err)
			}
			// 90 events over three months, two sources, as 0007 stored them.
			for i := range 90 {
				at := time.Date(2025, time.Month(1+i%3), 1+i%28, 12, 0, 0, 0, time.UTC)
				src := []string{"media/playback", "media/app"}[i%2]
				rawExec(t, old, fmt.Sprintf(`INSERT INTO events (source, event_id, namespace, user_id, touchpoint, system, type, occurred_at,
					currency, run_id, ingested_at) VALUES ('%s', 'e%02d', 'media', 'u%d', 'playback', 'app', 'play', '%s', '', 'run-0', '%s')`,
					src, i, i%7, at.Format(sqliteTime), at.Format(sqliteTime)))
			}
			rawExec(t, old, `INSERT INTO source_seq (source, seq) SELECT source, max(`+seqColumn(old)+`) FROM events GROUP BY source`)
			var want []string
			if err := old.ScanEvents(ctx, EventQuery{Sources: []string{"media/playback", "media/app"}}, func(ev *Event, _ []byte) error {
				want = append(want, fmt.Sprint(ev.EventID, "@", ev.Seq))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			oldSeq, _ := old.LatestSeq(ctx, []string{"media/playback", "media/app"})
			old.Close()

			s := b.open(t, dsn)
			var got []string
			if err := s.ScanEvents(ctx, EventQuery{Sources: []string{"media/playback", "media/app"}}, func(ev *Event, _ []byte) error {
				got = append(got, fmt.Sprint(ev.EventID, "@", ev.Seq))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(want) != 90 || !slices.Equal(got, want) {
				t.Fatalf("after the upgrade the events read %v, before %v", got, want)
			}
			if seq, _ := s.LatestSeq(ctx, []string{"media/playback", "media/app"}); seq != oldSeq || seq != 90 {
				t.Fatalf("LatestSeq = %d, was %d", seq, oldSeq)
			}
			if _, isPG := s.(*pgStore); isPG {
				if n := rawString(t, s, `SELECT count(*)::text FROM pg_inherits WHERE inhparent = 'events'::regclass`); n != "3" {
					t.Fatalf("%s partitions, want one per month", n)
				}
			}
			found, err := s.ExistingEvents(ctx, "media/app", []string{"e01", "e02", "e03"})
			if err != nil || !found["e01"] || found["e02"] || !found["e03"] {
				t.Fatalf("ExistingEvents = %v, %v", found, err)
			}
			again := ev("e01", "u1")
			again.Namespace = "media"
			fresh := ev("e90", "u1")
			fresh.Namespace = "media"
			if r := commit(t, s, Batch{Source: "media/app", Events: []Event{again, fresh}}); r.Inserted != 1 {
				t.Fatalf("inserted %d, want only the new event", r.Inserted)
			}
			if seq, _ := s.LatestSeq(ctx, []string{"media/app"}); seq <= 90 {
				t.Fatalf("the new event is numbered %d, not after the old ones", seq)
			}
		})
	}
}

// seqColumn is how a store at migration 0007 numbers events.
func seqColumn(s Store) string {
	if _, ok := s.(*pgStore); ok {
		return "seq"
	}
	return "rowid"
}
