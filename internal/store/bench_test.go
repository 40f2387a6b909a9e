package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// benchBatch is the events of one benchmark commit: all new, with amounts
// and attributes, as an ingest run writes them.
const benchBatch = 10000

func benchEvents(iter int) []Event {
	events := make([]Event, benchBatch)
	for i := range events {
		amount := float64(i%5000) + 0.99
		events[i] = Event{
			Source: "shop/stripe", Namespace: "shop", EventID: fmt.Sprintf("evt_%d_%06d", iter, i),
			UserID: fmt.Sprintf("cus_%06d", i%3000), Touchpoint: "checkout", System: "stripe", Type: "charge.succeeded",
			OccurredAt: t0.Add(time.Duration(i) * time.Second), Amount: &amount, Currency: "EUR",
			Attributes: map[string]any{"sku": "A-1", "qty": 2, "channel": "web"}, RunID: "run-bench",
		}
	}
	return events
}

// BenchmarkCommit commits batches of 10k new events, each with a cursor
// advance and a ledger entry.
func BenchmarkCommit(b *testing.B) {
	for _, be := range []backend{
		{name: "sqlite", dsn: func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "bench.db") }},
		{name: "postgres", dsn: pg.DSN},
	} {
		b.Run(be.name, func(b *testing.B) {
			s := be.new(b)
			ctx := context.Background()
			iter := 0
			for b.Loop() {
				b.StopTimer()
				events := benchEvents(iter)
				iter++
				b.StartTimer()
				res, err := s.Commit(ctx, Batch{Source: "shop/stripe", Events: events, Cursor: ptr(fmt.Sprint(iter)),
					Ledger: &LedgerEntry{RunID: "run-bench", Read: benchBatch, Accepted: benchBatch, AmountLoaded: "1.00"}})
				if err != nil {
					b.Fatal(err)
				}
				if res.Inserted != benchBatch {
					b.Fatalf("inserted %d", res.Inserted)
				}
			}
			b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkCopyBaseline is the floor for BenchmarkCommit/postgres: a plain
// COPY of the same rows, in a transaction, into a bare table with the same
// columns (no key, no index, no staging, no dedup, no ledger).
func BenchmarkCopyBaseline(b *testing.B) {
	s := backend{name: "postgres", dsn: pg.DSN}.new(b).(*pgStore)
	ctx := context.Background()
	rawExec(b, s, `CREATE TABLE copy_baseline (
		source text NOT NULL, event_id text NOT NULL, namespace text NOT NULL, user_id text NOT NULL,
		touchpoint text NOT NULL, system text NOT NULL, type text NOT NULL, occurred_at timestamptz NOT NULL,
		amount numeric, currency text NOT NULL, attributes jsonb, run_id text NOT NULL, ingested_at timestamptz NOT NULL)`)
	iter := 0
	for b.Loop() {
		b.StopTimer()
		events := benchEvents(iter)
		iter++
		b.StartTimer()
		// The same per-row work as Commit: amounts as exact decimals,
		// attributes as JSON.
		p, err := prepareBatch(Batch{Source: "shop/stripe", Events: events}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		err = s.pool.with(ctx, func(c *pgx.Conn) error {
			tx, err := c.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"copy_baseline"}, eventCols, pgx.CopyFromSlice(len(p.events), func(i int) ([]any, error) {
				e := &p.events[i]
				var amount pgtype.Numeric
				if err := amount.Scan(*e.amount); err != nil {
					return nil, err
				}
				return []any{e.Source, e.EventID, e.Namespace, e.UserID, e.Touchpoint, e.System, e.Type, e.OccurredAt,
					amount, e.Currency, e.attrs, e.RunID, p.now}, nil
			})); err != nil {
				return err
			}
			return tx.Commit(ctx)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "events/s")
}
