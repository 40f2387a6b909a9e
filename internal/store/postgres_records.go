package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) FindQuarantine(ctx context.Context, f QuarantineFilter) ([]QuarantineRecord, error) {
	var out []QuarantineRecord
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		var err error
		out, err = pgFindQuarantine(ctx, c, f, true)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read quarantine of %s: %w", orAll(f.Source), err)
	}
	return out, nil
}

func orAll(source string) string {
	if source == "" {
		return "every source"
	}
	return source
}

// pgFindQuarantine reads the records f selects, with the reviews that
// decided them.
func pgFindQuarantine(ctx context.Context, q pgQuerier, f QuarantineFilter, withEvents bool) ([]QuarantineRecord, error) {
	where, args := `WHERE true`, []any{}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Source != "" {
		where += ` AND q.source = ` + arg(f.Source)
	}
	if f.Status != "" {
		where += ` AND q.status = ` + arg(f.Status)
	}
	if f.Check != "" {
		where += ` AND (',' || q.check_name || ',') LIKE '%,' || ` + arg(f.Check) + ` || ',%'`
	}
	if len(f.RunIDs) > 0 {
		where += ` AND q.run_id = ANY(` + arg(f.RunIDs) + `::text[])`
	}
	if len(f.EventIDs) > 0 {
		where += ` AND q.event_id = ANY(` + arg(f.EventIDs) + `::text[])`
	}
	if f.UserID != "" {
		where += ` AND q.event LIKE ` + arg(userPattern(f.UserID)) + ` ESCAPE '\'`
	}
	if !f.From.IsZero() {
		where += ` AND q.at >= ` + arg(normTime(f.From))
	}
	if !f.To.IsZero() {
		where += ` AND q.at < ` + arg(normTime(f.To))
	}
	if f.AfterID > 0 {
		where += ` AND q.id > ` + arg(f.AfterID)
	}
	event := `''`
	if withEvents {
		event = `q.event`
	}
	rows, err := q.Query(ctx, `SELECT q.id, q.source, q.run_id, q.event_id, q.check_name, q.reason, q.raw, q.at, q.status, `+event+`,
			l.seq, l.run_id, l.actor, l.at, l.detail
		FROM quarantine q LEFT JOIN ledger l ON l.seq = q.reviewed_entry
		`+where+` ORDER BY q.id LIMIT `+arg(limitArg(f.Limit)), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (QuarantineRecord, error) {
		var r QuarantineRecord
		var ev string
		var seq *int64
		var id, actor, detail *string
		var at *time.Time
		if err := row.Scan(&r.ID, &r.Source, &r.RunID, &r.EventID, &r.Check, &r.Reason, &r.Raw, &r.At, &r.Status, &ev,
			&seq, &id, &actor, &at, &detail); err != nil {
			return r, err
		}
		r.At = r.At.UTC()
		if err := r.decodeEvent(ev); err != nil {
			return r, err
		}
		if seq != nil {
			r.Review = &ReviewMark{Seq: *seq, ID: *id, Reviewer: *actor, At: at.UTC(), Reason: reasonOf(*detail)}
		}
		return r, nil
	})
}

func (s *pgStore) Pending(ctx context.Context, sources []string) (map[string]PendingSummary, error) {
	b := pendingBuilder{}
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		where, args := `WHERE status = 'Pending'`, []any{}
		if sources != nil {
			where, args = where+` AND source = ANY($1::text[])`, append(args, sources)
		}
		rows, err := c.Query(ctx, `SELECT source, check_name, count(*), min(at) FROM quarantine `+where+` GROUP BY source, check_name`, args...)
		if err != nil {
			return err
		}
		var src, checks string
		var n int64
		var oldest time.Time
		_, err = pgx.ForEachRow(rows, []any{&src, &checks, &n, &oldest}, func() error {
			b.add(src, checks, n, oldest.UTC())
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("count pending records: %w", err)
	}
	return b.done(), nil
}
func (s *pgStore) Discrepancies(ctx context.Context, sources []string) (Discrepancies, error) {
	var out Discrepancies
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		where, args := ``, []any{}
		if sources != nil {
			where, args = `WHERE q.source = ANY($1::text[])`, append(args, sources)
		}
		rows, err := c.Query(ctx, `SELECT q.source, q.check_name, q.status, count(*) FROM quarantine q `+where+
			` GROUP BY q.source, q.check_name, q.status`, args...)
		if err != nil {
			return err
		}
		var b discrepancyBuilder
		var src, checks, status string
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&src, &checks, &status, &n}, func() error {
			b.add(src, checks, status, n)
			return nil
		}); err != nil {
			return err
		}
		out = b.done()
		rows, err = c.Query(ctx, fmt.Sprintf(`SELECT q.source, q.at, l.at FROM quarantine q JOIN ledger l ON l.seq = q.reviewed_entry %s
			ORDER BY q.reviewed_entry DESC, q.id LIMIT %d`, where, MaxResolutions), args...)
		if err != nil {
			return err
		}
		var r Resolution
		_, err = pgx.ForEachRow(rows, []any{&r.Source, &r.Held, &r.Reviewed}, func() error {
			out.Resolutions = append(out.Resolutions, Resolution{Source: r.Source, Held: r.Held.UTC(), Reviewed: r.Reviewed.UTC()})
			return nil
		})
		return err
	})
	if err != nil {
		return Discrepancies{}, fmt.Errorf("count discrepancies: %w", err)
	}
	return out, nil
}

func (s *pgStore) Runs(ctx context.Context, source string, limit int) ([]Run, error) {
	var out []Run
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT id, source, outcome, message, started_at, finished_at, read, accepted, duplicates,
			quarantined, rejected, warnings, COALESCE(amount_read::text, ''), COALESCE(amount_loaded::text, ''), currency, cursor,
			config_hash, ledger_hash
			FROM runs WHERE source = $1 ORDER BY started_at DESC, id DESC LIMIT $2`, source, limitArg(limit))
		if err != nil {
			return err
		}
		var r Run
		_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.Source, &r.Outcome, &r.Message, &r.StartedAt, &r.FinishedAt, &r.Read,
			&r.Accepted, &r.Duplicates, &r.Quarantined, &r.Rejected, &r.Warnings, &r.AmountRead, &r.AmountLoaded, &r.Currency,
			&r.Cursor, &r.ConfigHash, &r.LedgerHash}, func() error {
			r.StartedAt, r.FinishedAt = r.StartedAt.UTC(), r.FinishedAt.UTC()
			out = append(out, r)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read runs of %s: %w", source, err)
	}
	return out, nil
}
