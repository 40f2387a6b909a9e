package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

func sqliteHorizon(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (time.Time, error) {
	var h sql.NullString
	if err := q.QueryRowContext(ctx, `SELECT horizon FROM retention WHERE id = 1`).Scan(&h); err != nil {
		return time.Time{}, fmt.Errorf("read the retention horizon: %w", err)
	}
	if !h.Valid {
		return time.Time{}, nil
	}
	t, err := parseTime(h.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the retention horizon: %w", err)
	}
	return t, nil
}

func (s *sqliteStore) Horizon(ctx context.Context) (time.Time, error) {
	return sqliteHorizon(ctx, s.db)
}

func (s *sqliteStore) Retire(ctx context.Context, r RetireRequest) (RetireResult, error) {
	tx, err := s.db.BeginTx(ctx, nil) // IMMEDIATE: the only writer until it ends
	if err != nil {
		return RetireResult{}, fmt.Errorf("retire events: %w", err)
	}
	defer tx.Rollback()
	res, err := retire(ctx, &sqliteRetireTx{sqliteTx{tx: tx}}, r, time.Now())
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return RetireResult{}, fmt.Errorf("retire events: %w", cancelled(ctx, err))
	}
	return res, nil
}

type sqliteRetireTx struct{ sqliteTx }

func (t *sqliteRetireTx) horizon(ctx context.Context) (time.Time, error) {
	return sqliteHorizon(ctx, t.tx)
}

func (t *sqliteRetireTx) countBefore(ctx context.Context, before time.Time) (map[string]int64, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT source, count(*) FROM events WHERE occurred_at < ? GROUP BY source`, fmtTime(before))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var src string
		var n int64
		if err := rows.Scan(&src, &n); err != nil {
			return nil, err
		}
		out[src] = n
	}
	return out, rows.Err()
}

func (t *sqliteRetireTx) coveredBefore(ctx context.Context, before time.Time, fn func(int64, *digestEvent) error) error {
	return sqliteReadRows(ctx, t.tx, `WHERE occurred_at < ? AND entry IS NOT NULL`, ``, ``, []any{fmtTime(before)}, fn, nil, nil)
}

func (t *sqliteRetireTx) keepRetired(ctx context.Context, rows []retiredRow) error {
	for _, r := range rows {
		var amount any
		if r.Amount != nil {
			amount = *r.Amount
		}
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO retired_rows (retire_entry, entry, row_hash, amount) VALUES (?, ?, ?, ?)`,
			r.RetireEntry, r.Entry, hex.EncodeToString(r.Hash[:]), amount); err != nil {
			return err
		}
	}
	return nil
}

// drop deletes the events before t: SQLite has no partitions.
func (t *sqliteRetireTx) drop(ctx context.Context, before time.Time) ([]string, error) {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM events WHERE occurred_at < ?`, fmtTime(before)); err != nil {
		return nil, fmt.Errorf("delete the retired events: %w", err)
	}
	return nil, nil
}

func (t *sqliteRetireTx) setHorizon(ctx context.Context, h time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE retention SET horizon = ? WHERE id = 1`, fmtTime(h))
	return err
}

func (s *sqliteScanner) retiredRows(ctx context.Context, fn func(*retiredRow) error) error {
	rows, err := s.db.QueryContext(ctx, retiredRowsQuery)
	if err != nil {
		return err
	}
	defer rows.Close()
	var r retiredRow
	for rows.Next() {
		if err := scanRetiredRow(rows.Scan, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}
