package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// retireLockTimeout bounds how long dropping a month waits for queries
// reading events (a full evaluation reads for a minute at 30M events):
// commits wait for the retirement meanwhile.
const retireLockTimeout = "60s"

func (s *pgStore) Horizon(ctx context.Context) (time.Time, error) {
	var h time.Time
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		var err error
		h, err = pgHorizon(ctx, c)
		return err
	})
	return h, err
}

func (s *pgStore) Retire(ctx context.Context, r RetireRequest) (RetireResult, error) {
	var res RetireResult
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if err := lockEvents(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+retireLockTimeout+`'`); err != nil {
			return err
		}
		if res, err = retire(ctx, &pgRetireTx{pgTx{tx: tx, s: s}}, r, time.Now()); err != nil {
			return err
		}
		return commitTx(ctx, tx)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
		return RetireResult{}, fmt.Errorf("retire events: waited %s for queries reading events (a full evaluation?) to finish; retire again: %w", retireLockTimeout, err)
	}
	if err != nil {
		return RetireResult{}, fmt.Errorf("retire events: %w", err)
	}
	return res, nil
}

type pgRetireTx struct{ pgTx }

func (t *pgRetireTx) horizon(ctx context.Context) (time.Time, error) { return pgHorizon(ctx, t.tx) }

func (t *pgRetireTx) countBefore(ctx context.Context, before time.Time) (map[string]int64, error) {
	rows, err := t.tx.Query(ctx, `SELECT source, count(*) FROM events WHERE occurred_at < $1 GROUP BY source`, before)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var src string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&src, &n}, func() error {
		out[src] = n
		return nil
	})
	return out, err
}

func (t *pgRetireTx) coveredBefore(ctx context.Context, before time.Time, fn func(int64, *digestEvent) error) error {
	return pgReadRows(ctx, t.tx, `WHERE occurred_at < $1 AND entry IS NOT NULL`, ``, ``, []any{before}, nil, fn, nil, nil)
}

func (t *pgRetireTx) keepRetired(ctx context.Context, rows []retiredRow) error {
	for lo := 0; lo < len(rows); lo += pgChunk {
		chunk := rows[lo:min(lo+pgChunk, len(rows))]
		retire, entry, hash, amount := make([]int64, len(chunk)), make([]int64, len(chunk)), make([]string, len(chunk)), make([]*string, len(chunk))
		for i, r := range chunk {
			retire[i], entry[i], hash[i], amount[i] = r.RetireEntry, r.Entry, hex.EncodeToString(r.Hash[:]), r.Amount
		}
		if _, err := t.tx.Exec(ctx, `INSERT INTO retired_rows (retire_entry, entry, row_hash, amount)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])`, retire, entry, hash, amount); err != nil {
			return err
		}
	}
	return nil
}

// drop drops the partitions of the months before t, with their events'
// keys (found by joining each partition's rows to event_keys).
func (t *pgRetireTx) drop(ctx context.Context, before time.Time) ([]string, error) {
	rows, err := t.tx.Query(ctx, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list the events partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the events partitions: %w", err)
	}
	var dropped []string
	for _, name := range names {
		var y, m int
		if _, err := fmt.Sscanf(name, "events_y%04dm%02d", &y, &m); err != nil {
			continue // not one of the store's months
		}
		if !time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC).Before(before) {
			continue
		}
		id := pgx.Identifier{name}.Sanitize()
		if _, err := t.tx.Exec(ctx, `DELETE FROM event_keys k USING `+id+` e WHERE k.event_id = e.event_id AND k.source = e.source`); err != nil {
			return nil, fmt.Errorf("retire the keys of %s: %w", name, err)
		}
		if _, err := t.tx.Exec(ctx, `DROP TABLE `+id); err != nil {
			return nil, fmt.Errorf("drop the events partition %s: %w", name, err)
		}
		dropped = append(dropped, name)
	}
	return dropped, nil
}

func (t *pgRetireTx) setHorizon(ctx context.Context, h time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE retention SET horizon = $1 WHERE id = 1`, h)
	return err
}

func (s *pgScanner) retiredRows(ctx context.Context, fn func(*retiredRow) error) error {
	rows, err := s.tx.Query(ctx, retiredRowsQuery)
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
