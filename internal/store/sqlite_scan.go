package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

func (s *sqliteStore) ScanEvents(ctx context.Context, q EventQuery, fn func(*Event, []byte) error) error {
	cols, where, args := sqliteEventQuery(q)
	if q.Users != nil {
		// The users' events are found by the (user_id, touchpoint,
		// namespace) index; the namespace keeps other namespaces' users of
		// the same ID out.
		if namespaces, ok := sourceNamespaces(q.Sources); ok {
			where += ` AND namespace IN (SELECT value FROM json_each(?))`
			args = append(args, jsonText(namespaces))
		}
		where += ` AND user_id IN (SELECT value FROM json_each(?))`
		args = append(args, jsonText(q.Users))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+cols+` FROM events WHERE `+where+` ORDER BY user_id, occurred_at, rowid`, args...)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	return scanSqliteEvents(rows, fn)
}

func (s *sqliteStore) ScanSlices(ctx context.Context, q EventQuery, n int, fn func(int, *Event, []byte) error) error {
	// Slices are ranges of rowid, which is the ingestion sequence: rows
	// are never deleted or renumbered, and new ones go past the end, into
	// the last slice, which is open.
	var first, last sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT min(rowid), max(rowid) FROM events`).Scan(&first, &last); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	n = max(1, n)
	per := (last.Int64-first.Int64)/int64(n) + 1
	g, ctx := errgroup.WithContext(ctx)
	for i := range n {
		g.Go(func() error {
			cols, where, args := sqliteEventQuery(q)
			where += ` AND rowid >= ?`
			args = append(args, first.Int64+int64(i)*per)
			if i < n-1 {
				where += ` AND rowid < ?`
				args = append(args, first.Int64+int64(i+1)*per)
			}
			rows, err := s.db.QueryContext(ctx, `SELECT `+cols+` FROM events WHERE `+where, args...)
			if err != nil {
				return fmt.Errorf("read events: %w", err)
			}
			return scanSqliteEvents(rows, func(ev *Event, attrs []byte) error { return fn(i, ev, attrs) })
		})
	}
	return g.Wait()
}

// sqliteEventQuery is what ScanEvents and ScanSlices select of q's events,
// and the condition and arguments that select them.
func sqliteEventQuery(q EventQuery) (cols, where string, args []any) {
	where, args = `source IN (SELECT value FROM json_each(?))`, []any{jsonText(q.Sources)}
	if q.UpToSeq > 0 {
		where += ` AND rowid > ? AND rowid <= ?`
		args = append(args, q.AfterSeq, q.UpToSeq)
	}
	namespace, runID, attributes := "namespace", "run_id", "attributes"
	if q.Lean {
		namespace, runID = "''", "''"
	}
	if q.AttributesOf != nil {
		// Its placeholder comes before the WHERE clause's.
		attributes = `CASE WHEN touchpoint IN (SELECT value FROM json_each(?)) THEN attributes END`
		args = append([]any{jsonText(q.AttributesOf)}, args...)
	}
	cols = `source, ` + namespace + `, event_id, user_id, touchpoint, system, type, occurred_at, amount, currency, ` +
		attributes + `, ` + runID + `, rowid`
	return cols, where, args
}

// scanSqliteEvents hands the rows of sqliteEventQuery's columns to fn.
func scanSqliteEvents(rows *sql.Rows, fn func(*Event, []byte) error) error {
	defer rows.Close()
	var e Event
	var at string
	var amount, attrs sql.NullString
	for rows.Next() {
		e = Event{}
		if err := rows.Scan(&e.Source, &e.Namespace, &e.EventID, &e.UserID, &e.Touchpoint, &e.System, &e.Type, &at,
			&amount, &e.Currency, &attrs, &e.RunID, &e.Seq); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		var err error
		if e.OccurredAt, err = parseTime(at); err != nil {
			return fmt.Errorf("read event %s: %w", e.EventID, err)
		}
		if amount.Valid && amount.String != "" {
			f, err := strconv.ParseFloat(amount.String, 64)
			if err != nil {
				return fmt.Errorf("read event %s amount: %w", e.EventID, err)
			}
			e.Amount = &f
		}
		var raw []byte
		if attrs.Valid && attrs.String != "" {
			raw = []byte(attrs.String)
		}
		if err := fn(&e, raw); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqliteStore) LoadUserStates(ctx context.Context, journey string, fn func(string, []byte) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT user_id, state FROM journey_users WHERE journey = ?`, journey)
	if err != nil {
		return fmt.Errorf("read the user states of %s: %w", journey, err)
	}
	defer rows.Close()
	var user string
	var state []byte
	for rows.Next() {
		if err := rows.Scan(&user, &state); err != nil {
			return fmt.Errorf("read the user states of %s: %w", journey, err)
		}
		if err := fn(user, state); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqliteStore) SaveUserStates(ctx context.Context, journey string, states []UserState, replace bool, key string, doc []byte) error {
	if !json.Valid(doc) {
		return fmt.Errorf("state %s of %s is not JSON", key, journey)
	}
	err := func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if replace {
			if _, err := tx.ExecContext(ctx, `DELETE FROM journey_users WHERE journey = ?`, journey); err != nil {
				return err
			}
		}
		_, err = insertRows(ctx, tx, `INSERT INTO journey_users (journey, user_id, state) VALUES `, 3,
			` ON CONFLICT (journey, user_id) DO UPDATE SET state = excluded.state`, len(states), func(i int, a []any) []any {
				return append(a, journey, states[i].User, states[i].State)
			}, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO journey_state (journey, key, value, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (journey, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			journey, key, string(doc), fmtTime(time.Now())); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		return fmt.Errorf("save the user states of %s: %w", journey, cancelled(ctx, err))
	}
	return nil
}

func (s *sqliteStore) LoadState(ctx context.Context, journey, key string) ([]byte, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM journey_state WHERE journey = ? AND key = ?`, journey, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s of %s: %w", key, journey, err)
	}
	return []byte(v), nil
}

func (s *sqliteStore) SaveState(ctx context.Context, journey, key string, value []byte) error {
	if !json.Valid(value) {
		return fmt.Errorf("state %s of %s is not JSON", key, journey)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO journey_state (journey, key, value, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (journey, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		journey, key, string(value), fmtTime(time.Now()))
	if err != nil {
		return fmt.Errorf("save state %s of %s: %w", key, journey, err)
	}
	return nil
}
