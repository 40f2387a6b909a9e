package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/sync/errgroup"
)

func (s *pgStore) ScanEvents(ctx context.Context, q EventQuery, fn func(*Event, []byte) error) error {
	cols, where, args := pgEventQuery(q)
	if q.Users != nil {
		// The users' events are found by the (user_id, touchpoint,
		// namespace) index; the namespace keeps other namespaces' users of
		// the same ID out.
		if namespaces, ok := sourceNamespaces(q.Sources); ok {
			args = append(args, namespaces)
			where += fmt.Sprintf(` AND namespace = ANY($%d::text[])`, len(args))
		}
		args = append(args, q.Users)
		where += fmt.Sprintf(` AND user_id = ANY($%d::text[])`, len(args))
	}
	return s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+cols+` FROM events WHERE `+where+` ORDER BY user_id, occurred_at, seq`, args...)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		// In this order a user's ID repeats for their run of rows: made a
		// string once per run.
		var prevUser string
		return scanPgEvents(rows, func(ev *Event, attrs []byte) error {
			if ev.UserID == prevUser {
				ev.UserID = prevUser
			} else {
				ev.UserID = strings.Clone(ev.UserID)
				prevUser = ev.UserID
			}
			ev.EventID = strings.Clone(ev.EventID)
			return fn(ev, attrs)
		})
	})
}

func (s *pgStore) ScanSlices(ctx context.Context, q EventQuery, n int, fn func(int, *Event, []byte) error) error {
	// One connection exports the snapshot every slice reads, and holds the
	// table against rewrites (VACUUM FULL, CLUSTER) that would move rows
	// from one slice to another while they are read. It reads the first
	// slice itself, so a pool of one connection reads one slice.
	n = max(1, min(n, int(s.pool.Config().MaxConns)))
	return s.pool.with(ctx, func(lead *pgx.Conn) error {
		tx, err := lead.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		defer tx.Rollback(ctx)
		var snapshot string
		if _, err := tx.Exec(ctx, `LOCK TABLE events IN ACCESS SHARE MODE`); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		// Each slice reads its share of every month's partition: the
		// partition's pages cut into n ranges.
		rows, err := tx.Query(ctx, `SELECT c.relname::text, pg_relation_size(c.oid) / current_setting('block_size')::bigint
			FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY c.relname`)
		if err != nil {
			return fmt.Errorf("read events: list partitions: %w", err)
		}
		type partition struct {
			name   string
			blocks int64
		}
		parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (partition, error) {
			var p partition
			return p, r.Scan(&p.name, &p.blocks)
		})
		if err != nil {
			return fmt.Errorf("read events: list partitions: %w", err)
		}
		read := func(i int, tx pgx.Tx) error {
			for _, p := range parts {
				cols, where, args := pgEventQuery(q)
				// The last range is open, as the partition may have grown
				// since it was measured.
				per := p.blocks/int64(n) + 1
				args = append(args, fmt.Sprintf("(%d,0)", int64(i)*per))
				where += fmt.Sprintf(` AND ctid >= $%d::text::tid`, len(args))
				if i < n-1 {
					args = append(args, fmt.Sprintf("(%d,0)", int64(i+1)*per))
					where += fmt.Sprintf(` AND ctid < $%d::text::tid`, len(args))
				}
				rows, err := tx.Query(ctx, `SELECT `+cols+` FROM `+pgx.Identifier{p.name}.Sanitize()+` WHERE `+where, args...)
				if err != nil {
					return fmt.Errorf("read events: %w", err)
				}
				if err := scanPgEvents(rows, func(ev *Event, attrs []byte) error { return fn(i, ev, attrs) }); err != nil {
					return err
				}
			}
			return nil
		}
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return read(0, tx) })
		for i := 1; i < n; i++ {
			g.Go(func() error {
				return s.pool.with(ctx, func(c *pgx.Conn) error {
					tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
					if err != nil {
						return fmt.Errorf("read events: %w", err)
					}
					defer tx.Rollback(ctx)
					if _, err := tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`); err != nil {
						return fmt.Errorf("read events: %w", err)
					}
					return read(i, tx)
				})
			})
		}
		return g.Wait()
	})
}

// pgEventQuery is what ScanEvents and ScanSlices select of q's events, and
// the condition and arguments that select them.
func pgEventQuery(q EventQuery) (cols, where string, args []any) {
	where, args = `source = ANY($1::text[])`, []any{q.Sources}
	if q.UpToSeq > 0 {
		args = append(args, q.AfterSeq, q.UpToSeq)
		where += fmt.Sprintf(` AND seq > $%d AND seq <= $%d`, len(args)-1, len(args))
	}
	namespace, runID, attributes := "namespace", "run_id", "attributes::text"
	if q.Lean {
		namespace, runID = "''::text", "''::text"
	}
	if q.AttributesOf != nil {
		args = append(args, q.AttributesOf)
		attributes = fmt.Sprintf(`CASE WHEN touchpoint = ANY($%d::text[]) THEN attributes::text END`, len(args))
	}
	cols = `source, ` + namespace + `, event_id, user_id, touchpoint, system, type, occurred_at, amount::float8, currency, ` +
		attributes + `, ` + runID + `, seq`
	return cols, where, args
}

// scanPgEvents hands the rows of pgEventQuery's columns to fn, scanned
// without copying: the few distinct sources, touchpoints, types... are
// made strings once each, and the user and event IDs view the row (fn
// copies them if it keeps them). At millions of rows, copies cost more
// than the rest of the read.
func scanPgEvents(rows pgx.Rows, fn func(*Event, []byte) error) error {
	defer rows.Close()
	var e Event
	var source, namespace, eventID, userID, touchpoint, system, typ, currency, attrs, runID pgtype.DriverBytes
	names := map[string]string{}
	name := func(b []byte) string {
		if s, ok := names[string(b)]; ok {
			return s
		}
		s := string(b)
		names[s] = s
		return s
	}
	for rows.Next() {
		e = Event{}
		if err := rows.Scan(&source, &namespace, &eventID, &userID, &touchpoint, &system, &typ, &e.OccurredAt,
			&e.Amount, &currency, &attrs, &runID, &e.Seq); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		e.Source, e.Namespace, e.Touchpoint, e.System, e.Type = name(source), name(namespace), name(touchpoint), name(system), name(typ)
		e.Currency, e.RunID = name(currency), name(runID)
		e.EventID, e.UserID = unsafe.String(unsafe.SliceData(eventID), len(eventID)), unsafe.String(unsafe.SliceData(userID), len(userID))
		e.OccurredAt = e.OccurredAt.UTC()
		if err := fn(&e, attrs); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *pgStore) LoadUserStates(ctx context.Context, journey string, fn func(string, []byte) error) error {
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT user_id, state FROM journey_users WHERE journey = $1`, journey)
		if err != nil {
			return err
		}
		defer rows.Close()
		var user string
		var state []byte
		for rows.Next() {
			if err := rows.Scan(&user, &state); err != nil {
				return err
			}
			if err := fn(user, state); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("read the user states of %s: %w", journey, err)
	}
	return nil
}

func (s *pgStore) SaveUserStates(ctx context.Context, journey string, states []UserState, replace bool, key string, doc []byte) error {
	if !json.Valid(doc) {
		return fmt.Errorf("state %s of %s is not JSON", key, journey)
	}
	// In key order, the rows go to the end of the primary key's index
	// instead of all over it: a million states save several times faster.
	slices.SortFunc(states, func(a, b UserState) int { return strings.Compare(a.User, b.User) })
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if replace {
			if _, err := tx.Exec(ctx, `DELETE FROM journey_users WHERE journey = $1`, journey); err != nil {
				return err
			}
		}
		target := "journey_users"
		if !replace {
			// COPY cannot upsert: copy into a scratch table, then merge.
			if _, err := tx.Exec(ctx, `CREATE TEMP TABLE journey_users_in (LIKE journey_users) ON COMMIT DROP`); err != nil {
				return err
			}
			target = "journey_users_in"
		}
		data := newCopyData(3, len(states), 64+len(journey))
		for _, st := range states {
			data.row()
			data.text(journey)
			data.text(st.User)
			data.bytes(st.State)
		}
		err = copyInto(ctx, tx, target, []string{"journey", "user_id", "state"}, data.end())
		data.release()
		if err != nil {
			return err
		}
		if !replace {
			if _, err := tx.Exec(ctx, `INSERT INTO journey_users SELECT * FROM journey_users_in
				ON CONFLICT (journey, user_id) DO UPDATE SET state = EXCLUDED.state`); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO journey_state (journey, key, value, updated_at) VALUES ($1, $2, $3::jsonb, now())
			ON CONFLICT (journey, key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`, journey, key, string(doc)); err != nil {
			return err
		}
		return commitTx(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("save the user states of %s: %w", journey, cancelled(ctx, err))
	}
	return nil
}

func (s *pgStore) LoadState(ctx context.Context, journey, key string) ([]byte, error) {
	var v []byte
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT value::text FROM journey_state WHERE journey = $1 AND key = $2`, journey, key).Scan(&v)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s of %s: %w", key, journey, err)
	}
	return v, nil
}

func (s *pgStore) SaveState(ctx context.Context, journey, key string, value []byte) error {
	if !json.Valid(value) {
		return fmt.Errorf("state %s of %s is not JSON", key, journey)
	}
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO journey_state (journey, key, value, updated_at) VALUES ($1, $2, $3::jsonb, now())
			ON CONFLICT (journey, key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`, journey, key, string(value))
		return err
	})
	if err != nil {
		return fmt.Errorf("save state %s of %s: %w", key, journey, err)
	}
	return nil
}
