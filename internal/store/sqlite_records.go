package store

import (
	"context"
	"database/sql"
	"fmt"
)

func (s *sqliteStore) FindQuarantine(ctx context.Context, f QuarantineFilter) ([]QuarantineRecord, error) {
	out, err := sqliteFindQuarantine(ctx, s.db, f)
	if err != nil {
		return nil, fmt.Errorf("read quarantine of %s: %w", orAll(f.Source), err)
	}
	return out, nil
}

// sqliteFindQuarantine reads the records f selects, with the reviews that
// decided them.
func sqliteFindQuarantine(ctx context.Context, q sqliteQuerier, f QuarantineFilter) ([]QuarantineRecord, error) {
	where, args := `WHERE 1`, []any{}
	add := func(cond string, v any) {
		where += ` AND ` + cond
		args = append(args, v)
	}
	if f.Source != "" {
		add(`q.source = ?`, f.Source)
	}
	if f.Status != "" {
		add(`q.status = ?`, f.Status)
	}
	if f.Check != "" {
		add(`(',' || q.check_name || ',') LIKE '%,' || ? || ',%'`, f.Check)
	}
	if len(f.RunIDs) > 0 {
		add(`q.run_id IN (SELECT value FROM json_each(?))`, jsonText(f.RunIDs))
	}
	if len(f.EventIDs) > 0 {
		add(`q.event_id IN (SELECT value FROM json_each(?))`, jsonText(f.EventIDs))
	}
	if f.UserID != "" {
		add(`q.event LIKE ? ESCAPE '\'`, userPattern(f.UserID))
	}
	if !f.From.IsZero() {
		add(`q.at >= ?`, fmtTime(f.From))
	}
	if !f.To.IsZero() {
		add(`q.at < ?`, fmtTime(f.To))
	}
	if f.AfterID > 0 {
		add(`q.id > ?`, f.AfterID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := q.QueryContext(ctx, `SELECT q.id, q.source, q.run_id, q.event_id, q.check_name, q.reason, q.raw, q.at, q.status, q.event,
			l.seq, l.run_id, l.actor, l.at, l.detail
		FROM quarantine q LEFT JOIN ledger l ON l.seq = q.reviewed_entry
		`+where+` ORDER BY q.id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []QuarantineRecord
	for rows.Next() {
		var r QuarantineRecord
		var at, ev string
		var seq sql.NullInt64
		var id, actor, reviewedAt, detail sql.NullString
		if err := rows.Scan(&r.ID, &r.Source, &r.RunID, &r.EventID, &r.Check, &r.Reason, &r.Raw, &at, &r.Status, &ev,
			&seq, &id, &actor, &reviewedAt, &detail); err != nil {
			return nil, err
		}
		if r.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("quarantined record %d: %w", r.ID, err)
		}
		if err := r.decodeEvent(ev); err != nil {
			return nil, err
		}
		if seq.Valid {
			m := &ReviewMark{Seq: seq.Int64, ID: id.String, Reviewer: actor.String, Reason: reasonOf(detail.String)}
			if m.At, err = parseTime(reviewedAt.String); err != nil {
				return nil, fmt.Errorf("review of quarantined record %d: %w", r.ID, err)
			}
			r.Review = m
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqliteStore) Pending(ctx context.Context, sources []string) (map[string]PendingSummary, error) {
	where, args := `WHERE status = 'Pending'`, []any{}
	if sources != nil {
		where, args = where+` AND source IN (SELECT value FROM json_each(?))`, append(args, jsonText(sources))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT source, check_name, count(*), min(at) FROM quarantine `+where+` GROUP BY source, check_name`, args...)
	if err != nil {
		return nil, fmt.Errorf("count pending records: %w", err)
	}
	defer rows.Close()
	b := pendingBuilder{}
	for rows.Next() {
		var src, checks, oldest string
		var n int64
		if err := rows.Scan(&src, &checks, &n, &oldest); err != nil {
			return nil, fmt.Errorf("count pending records: %w", err)
		}
		at, err := parseTime(oldest)
		if err != nil {
			return nil, fmt.Errorf("count pending records: %w", err)
		}
		b.add(src, checks, n, at)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count pending records: %w", err)
	}
	return b.done(), nil
}
func (s *sqliteStore) Discrepancies(ctx context.Context, sources []string) (Discrepancies, error) {
	where, args := `WHERE 1`, []any{}
	if sources != nil {
		where, args = `WHERE q.source IN (SELECT value FROM json_each(?))`, append(args, jsonText(sources))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT q.source, q.check_name, q.status, count(*) FROM quarantine q `+where+
		` GROUP BY q.source, q.check_name, q.status`, args...)
	if err != nil {
		return Discrepancies{}, fmt.Errorf("count discrepancies: %w", err)
	}
	defer rows.Close()
	var b discrepancyBuilder
	for rows.Next() {
		var src, checks, status string
		var n int64
		if err := rows.Scan(&src, &checks, &status, &n); err != nil {
			return Discrepancies{}, fmt.Errorf("count discrepancies: %w", err)
		}
		b.add(src, checks, status, n)
	}
	if err := rows.Err(); err != nil {
		return Discrepancies{}, fmt.Errorf("count discrepancies: %w", err)
	}
	out := b.done()
	rows, err = s.db.QueryContext(ctx, `SELECT q.source, q.at, l.at FROM quarantine q JOIN ledger l ON l.seq = q.reviewed_entry `+where+
		` ORDER BY q.reviewed_entry DESC, q.id LIMIT ?`, append(args, MaxResolutions)...)
	if err != nil {
		return Discrepancies{}, fmt.Errorf("read review times: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Resolution
		var held, reviewed string
		if err := rows.Scan(&r.Source, &held, &reviewed); err != nil {
			return Discrepancies{}, fmt.Errorf("read review times: %w", err)
		}
		if r.Held, err = parseTime(held); err != nil {
			return Discrepancies{}, fmt.Errorf("read review times: %w", err)
		}
		if r.Reviewed, err = parseTime(reviewed); err != nil {
			return Discrepancies{}, fmt.Errorf("read review times: %w", err)
		}
		out.Resolutions = append(out.Resolutions, r)
	}
	return out, rows.Err()
}

func (s *sqliteStore) Runs(ctx context.Context, source string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = -1 // no limit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, source, outcome, message, started_at, finished_at, read, accepted, duplicates,
		quarantined, rejected, warnings, amount_read, amount_loaded, currency, cursor, config_hash, ledger_hash
		FROM runs WHERE source = ? ORDER BY started_at DESC, id DESC LIMIT ?`, source, limit)
	if err != nil {
		return nil, fmt.Errorf("read runs of %s: %w", source, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started, finished string
		if err := rows.Scan(&r.ID, &r.Source, &r.Outcome, &r.Message, &started, &finished, &r.Read, &r.Accepted, &r.Duplicates,
			&r.Quarantined, &r.Rejected, &r.Warnings, &r.AmountRead, &r.AmountLoaded, &r.Currency, &r.Cursor, &r.ConfigHash, &r.LedgerHash); err != nil {
			return nil, fmt.Errorf("read runs of %s: %w", source, err)
		}
		if r.StartedAt, err = parseTime(started); err != nil {
			return nil, fmt.Errorf("read run %s: %w", r.ID, err)
		}
		if r.FinishedAt, err = parseTime(finished); err != nil {
			return nil, fmt.Errorf("read run %s: %w", r.ID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read runs of %s: %w", source, err)
	}
	return out, nil
}
