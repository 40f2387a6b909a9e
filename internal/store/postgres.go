package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
)

// migrateLock is the advisory lock key under which migrations run, so that
// pods starting together apply each migration once.
const migrateLock int64 = 0x6a6f75726e6579 // "journey"

// pgChunk bounds the ids one lookup query sends as its array parameter.
const pgChunk = 10000

// pgCopyThreshold is the number of rows from which a table's rows are
// written with COPY through a staging table; smaller sets go in one
// INSERT ... SELECT FROM unnest(...), sparing the catalog a temporary
// table per small commit.
const pgCopyThreshold = 256

// pgMaxConns is the default pool size; pool_max_conns in the DSN (as
// pgxpool spells it) changes it.
const pgMaxConns = 4

// pgAttempts bounds how often a commit is tried when PostgreSQL aborts it
// for a deadlock or serialisation failure, which a retry resolves.
const pgAttempts = 3

type pgStore struct {
	pool          *pgPool
	copyThreshold int
}

func openPostgres(ctx context.Context, dsn, upTo string) (Store, error) {
	fail := func(err error) error {
		return fmt.Errorf("open PostgreSQL store %s: %w", redact(dsn), err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fail(err) // pgx redacts the password itself
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = pgMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fail(err)
	}
	s := &pgStore{pool: &pgPool{pool}, copyThreshold: pgCopyThreshold}
	if err := s.migrate(ctx, upTo); err != nil {
		s.pool.close()
		return nil, fail(err)
	}
	return s, nil
}

func (s *pgStore) migrate(ctx context.Context, upTo string) error {
	all, err := loadMigrations("postgres", upTo)
	if err != nil {
		return err
	}
	return s.pool.with(ctx, func(c *pgx.Conn) error {
		// DDL is transactional in PostgreSQL: all pending migrations apply
		// in one transaction, under a lock that the next pod waits for.
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		applied := map[string]bool{}
		for _, v := range versions {
			applied[v] = true
		}
		todo, err := pending(all, applied)
		if err != nil {
			return err
		}
		for _, m := range todo {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.version, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
				return err
			}
		}
		return commitTx(ctx, tx)
	})
}

func (s *pgStore) Close() error {
	s.pool.close()
	return nil
}

// lookup runs query once per chunk of ids, the chunk bound as a text[] to
// $1, and collects the first column of every row.
//
// The queries walk the array and probe the index once for each id (a
// LATERAL subquery with LIMIT 1, which the planner cannot flatten into a
// join) rather than filter rows with "col = ANY($1)" or use EXISTS: once a
// statement's plan is cached generically, PostgreSQL may apply = ANY as a
// filter, comparing every row with every id, which for 10k ids took
// seconds; and an EXISTS becomes a semi-join that, while a growing table's
// statistics are stale (as during a large ingest, before autovacuum's
// ANALYZE), hashes every row of the source per lookup: quadratic in the
// run's size.
func (s *pgStore) lookup(ctx context.Context, query string, ids []string, args ...any) (map[string]bool, error) {
	found := map[string]bool{}
	ids = dedupe(ids)
	if len(ids) == 0 {
		return found, nil
	}
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		return chunks(ids, pgChunk, func(chunk []string) error {
			rows, err := c.Query(ctx, query, append([]any{chunk}, args...)...)
			if err != nil {
				return err
			}
			var id string
			_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
				found[id] = true
				return nil
			})
			return err
		})
	})
	return found, err
}

func (s *pgStore) ExistingEvents(ctx context.Context, source string, ids []string) (map[string]bool, error) {
	m, err := s.lookup(ctx, `SELECT k.id FROM unnest($1::text[]) AS k(id), LATERAL
		(SELECT 1 FROM events e WHERE e.source = $2 AND e.event_id = k.id LIMIT 1) AS hit`, ids, source)
	if err != nil {
		return nil, fmt.Errorf("look up stored events of %s: %w", source, err)
	}
	return m, nil
}

func (s *pgStore) HeldInQuarantine(ctx context.Context, source string, hashes []string) (map[string]bool, error) {
	m, err := s.lookup(ctx, `SELECT k.id FROM unnest($1::text[]) AS k(id), LATERAL
		(SELECT 1 FROM quarantine q WHERE q.source = $2 AND q.record_hash = k.id AND q.status = 'Pending' LIMIT 1) AS hit`, hashes, source)
	if err != nil {
		return nil, fmt.Errorf("look up quarantined records of %s: %w", source, err)
	}
	return m, nil
}

func (s *pgStore) ExistingKeys(ctx context.Context, source, check string, keys []string, since time.Time) (map[string]bool, error) {
	m, err := s.lookup(ctx, `SELECT k.id FROM unnest($1::text[]) AS k(id), LATERAL
		(SELECT 1 FROM unique_keys u WHERE u.source = $2 AND u.check_name = $3 AND u.key = k.id AND u.occurred_at >= $4 LIMIT 1) AS hit`,
		keys, source, check, normTime(since))
	if err != nil {
		return nil, fmt.Errorf("look up keys of unique check %q of %s: %w", check, source, err)
	}
	return m, nil
}

func (s *pgStore) KnownUsers(ctx context.Context, namespace, touchpoint string, userIDs []string) (map[string]bool, error) {
	m, err := s.lookup(ctx, `SELECT k.id FROM unnest($1::text[]) AS k(id), LATERAL
		(SELECT 1 FROM events e WHERE e.namespace = $2 AND e.touchpoint = $3 AND e.user_id = k.id LIMIT 1) AS hit`,
		userIDs, namespace, touchpoint)
	if err != nil {
		return nil, fmt.Errorf("look up users of touchpoint %q in namespace %s: %w", touchpoint, namespace, err)
	}
	return m, nil
}

func (s *pgStore) Cursor(ctx context.Context, source string) (string, error) {
	var cur string
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT cursor FROM cursors WHERE source = $1`, source).Scan(&cur)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read cursor of %s: %w", source, err)
	}
	return cur, nil
}

func limitArg(limit int) any {
	if limit <= 0 {
		return nil // LIMIT NULL: no limit
	}
	return limit
}

func (s *pgStore) LatestSeq(ctx context.Context, sources []string) (int64, error) {
	var seq int64
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM source_seq WHERE source = ANY($1::text[])`, sources).Scan(&seq)
	})
	if err != nil {
		return 0, fmt.Errorf("read the newest event: %w", err)
	}
	return seq, nil
}

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
		var blocks int64
		if _, err := tx.Exec(ctx, `LOCK TABLE events IN ACCESS SHARE MODE`); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		err = tx.QueryRow(ctx, `SELECT pg_export_snapshot(), pg_relation_size('events') / current_setting('block_size')::bigint`).
			Scan(&snapshot, &blocks)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		per := blocks/int64(n) + 1
		read := func(i int, tx pgx.Tx) error {
			cols, where, args := pgEventQuery(q)
			// Ranges of the table's pages; the last one open, as the table
			// may have grown since it was measured.
			args = append(args, fmt.Sprintf("(%d,0)", int64(i)*per))
			where += fmt.Sprintf(` AND ctid >= $%d::text::tid`, len(args))
			if i < n-1 {
				args = append(args, fmt.Sprintf("(%d,0)", int64(i+1)*per))
				where += fmt.Sprintf(` AND ctid < $%d::text::tid`, len(args))
			}
			rows, err := tx.Query(ctx, `SELECT `+cols+` FROM events WHERE `+where, args...)
			if err != nil {
				return fmt.Errorf("read events: %w", err)
			}
			return scanPgEvents(rows, func(ev *Event, attrs []byte) error { return fn(i, ev, attrs) })
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

func (s *pgStore) Quarantined(ctx context.Context, source string, limit int) ([]QuarantineRecord, error) {
	var out []QuarantineRecord
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT id, source, run_id, event_id, check_name, reason, raw, at, status
			FROM quarantine WHERE source = $1 ORDER BY id LIMIT $2`, source, limitArg(limit))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (QuarantineRecord, error) {
			var q QuarantineRecord
			err := row.Scan(&q.ID, &q.Source, &q.RunID, &q.EventID, &q.Check, &q.Reason, &q.Raw, &q.At, &q.Status)
			q.At = q.At.UTC()
			return q, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read quarantine of %s: %w", source, err)
	}
	return out, nil
}

// commitTx commits tx whatever becomes of ctx meanwhile. Cancelling a
// COMMIT already sent does not undo it on the server, it only hides the
// outcome: pgx would drop the connection and report the cancellation
// for a transaction that may have committed. A caller that cancels sees
// either success with everything written or an error with nothing.
// Only a connection lost during the COMMIT itself leaves it unknown;
// a rerun then finds the batch's events stored and counts them as
// duplicates, so nothing is lost or loaded twice.
func commitTx(ctx context.Context, tx pgx.Tx) error {
	return tx.Commit(context.WithoutCancel(ctx))
}

func (s *pgStore) Commit(ctx context.Context, b Batch) (CommitResult, error) {
	p, err := prepareBatch(b, time.Now())
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit batch of %s: %w", b.Source, err)
	}
	var inserted int
	for attempt := 1; ; attempt++ {
		inserted, err = s.commit(ctx, p)
		var pgErr *pgconn.PgError
		if err == nil || attempt == pgAttempts || !errors.As(err, &pgErr) ||
			(pgErr.Code != "40P01" && pgErr.Code != "40001") || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit batch of %s: %w", b.Source, cancelled(ctx, err))
	}
	return p.result(b, inserted), nil
}

var (
	eventCols      = []string{"source", "event_id", "namespace", "user_id", "touchpoint", "system", "type", "occurred_at", "amount", "currency", "attributes", "run_id", "ingested_at"}
	quarantineCols = []string{"source", "run_id", "event_id", "check_name", "reason", "raw", "at", "status", "record_hash"}
	uniqueKeyCols  = []string{"source", "check_name", "key", "event_id", "occurred_at"}
)

// eventsSeqLock is the advisory lock key that orders event commits.
const eventsSeqLock int64 = 0x6a6f75726e6579 // "journey"

func (s *pgStore) commit(ctx context.Context, p *prepared) (int, error) {
	var inserted int
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)

		// Batches of events commit one at a time, so their sequence numbers
		// are visible in order: an evaluator's watermark (LatestSeq) is
		// never overtaken by a batch that commits late.
		if len(p.events) > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, eventsSeqLock); err != nil {
				return fmt.Errorf("wait for the events sequence: %w", err)
			}
		}
		if inserted, err = s.writeEvents(ctx, tx, p); err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		if len(p.events) > 0 {
			// Every event of the batch took its number from the sequence
			// in this session, under the lock: the last one taken is the
			// batch's newest, and no event committed later has a lower one.
			if _, err := tx.Exec(ctx, `INSERT INTO source_seq (source, seq)
				SELECT s, currval(pg_get_serial_sequence('events', 'seq')) FROM unnest($1::text[]) AS s
				ON CONFLICT (source) DO UPDATE SET seq = EXCLUDED.seq`, p.eventSources); err != nil {
				return fmt.Errorf("advance the events sequence: %w", err)
			}
		}
		if err := s.writeQuarantine(ctx, tx, p); err != nil {
			return fmt.Errorf("write quarantined records: %w", err)
		}
		if err := s.writeKeys(ctx, tx, p); err != nil {
			return fmt.Errorf("write unique keys: %w", err)
		}
		if p.cursor != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO cursors (source, cursor, updated_at) VALUES ($1, $2, $3)
				ON CONFLICT (source) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = EXCLUDED.updated_at`,
				p.source, *p.cursor, p.now); err != nil {
				return fmt.Errorf("advance cursor: %w", err)
			}
		}
		if l := p.ledger; l != nil {
			// The head row's lock serialises appenders, across pods too;
			// it is taken last so that it is held only briefly.
			var seq int64
			var hash string
			if err := tx.QueryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &hash); err != nil {
				return fmt.Errorf("lock ledger head: %w", err)
			}
			p.link(seq, hash)
			if _, err := tx.Exec(ctx, `INSERT INTO ledger (seq, source, run_id, at, config_hash, read, accepted, duplicates,
				quarantined, rejected, amount_read, amount_loaded, cursor, prev_hash, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
				l.Seq, l.Source, l.RunID, l.At, l.ConfigHash, l.Read, l.Accepted, l.Duplicates,
				l.Quarantined, l.Rejected, l.AmountRead, l.AmountLoaded, l.Cursor, l.PrevHash, l.Hash); err != nil {
				return fmt.Errorf("append ledger entry: %w", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1`, l.Seq, l.Hash); err != nil {
				return fmt.Errorf("move ledger head: %w", err)
			}
		}
		if r := p.run; r != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO runs (id, source, outcome, message, started_at, finished_at, read, accepted,
				duplicates, quarantined, rejected, warnings, amount_read, amount_loaded, currency, cursor, config_hash, ledger_hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
					NULLIF($13::text, '')::numeric, NULLIF($14::text, '')::numeric, $15, $16, $17, $18)
				ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, outcome = EXCLUDED.outcome, message = EXCLUDED.message,
					started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, read = EXCLUDED.read,
					accepted = EXCLUDED.accepted, duplicates = EXCLUDED.duplicates, quarantined = EXCLUDED.quarantined,
					rejected = EXCLUDED.rejected, warnings = EXCLUDED.warnings, amount_read = EXCLUDED.amount_read,
					amount_loaded = EXCLUDED.amount_loaded, currency = EXCLUDED.currency, cursor = EXCLUDED.cursor,
					config_hash = EXCLUDED.config_hash, ledger_hash = EXCLUDED.ledger_hash`,
				r.ID, r.Source, r.Outcome, r.Message, r.StartedAt, r.FinishedAt, r.Read, r.Accepted,
				r.Duplicates, r.Quarantined, r.Rejected, r.Warnings, r.AmountRead, r.AmountLoaded, r.Currency, r.Cursor,
				r.ConfigHash, r.LedgerHash); err != nil {
				return fmt.Errorf("record run %s: %w", r.ID, err)
			}
		}
		return commitTx(ctx, tx)
	})
	return inserted, err
}

// writeEvents inserts the batch's events, skipping those already stored
// (and repeats within the batch), and returns how many it inserted.
func (s *pgStore) writeEvents(ctx context.Context, tx pgx.Tx, p *prepared) (int, error) {
	n := len(p.events)
	if n == 0 {
		return 0, nil
	}
	if n < s.copyThreshold {
		var (
			src, id, ns, user, tp, sys, typ, cur, run = make([]string, n), make([]string, n), make([]string, n),
				make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			occurred     = make([]time.Time, n)
			amount, attr = make([]*string, n), make([]*string, n)
		)
		for i := range p.events {
			e := &p.events[i]
			src[i], id[i], ns[i], user[i], tp[i], sys[i], typ[i] = e.Source, e.EventID, e.Namespace, e.UserID, e.Touchpoint, e.System, e.Type
			occurred[i], amount[i], cur[i], run[i] = e.OccurredAt, e.amount, e.Currency, e.RunID
			if e.attrs != nil {
				a := string(e.attrs)
				attr[i] = &a
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO events (source, event_id, namespace, user_id, touchpoint, system, type, occurred_at,
				amount, currency, attributes, run_id, ingested_at)
			SELECT s, e, ns, u, tp, sy, ty, o, a::numeric, c, at::jsonb, r, $13
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
				$9::text[], $10::text[], $11::text[], $12::text[]) AS t(s, e, ns, u, tp, sy, ty, o, a, c, at, r)
			ON CONFLICT (source, event_id) DO NOTHING`,
			src, id, ns, user, tp, sys, typ, occurred, amount, cur, attr, run, p.now)
		return int(tag.RowsAffected()), err
	}

	data := newCopyData(len(eventCols), n, 256)
	for i := range p.events {
		e := &p.events[i]
		data.row()
		data.text(e.Source)
		data.text(e.EventID)
		data.text(e.Namespace)
		data.text(e.UserID)
		data.text(e.Touchpoint)
		data.text(e.System)
		data.text(e.Type)
		data.timestamptz(e.OccurredAt)
		if err := data.numeric(e.amount); err != nil {
			return 0, fmt.Errorf("event %q: %w", e.EventID, err)
		}
		data.text(e.Currency)
		data.jsonb(e.attrs)
		data.text(e.RunID)
		data.timestamptz(p.now)
	}
	rows := data.end()
	defer data.release()
	// An ingest looked its events up before committing, so a batch almost
	// always holds only new ones. Should one exist after all (another run
	// committed it meanwhile, or the batch repeats an ID), the existing
	// ones are skipped.
	merged, err := copyOrMerge(ctx, tx, "events", eventCols, rows,
		`CREATE TEMP TABLE events_stage (LIKE events) ON COMMIT DROP; ALTER TABLE events_stage DROP COLUMN seq`,
		`INSERT INTO events (source, event_id, namespace, user_id, touchpoint, system, type, occurred_at,
			amount, currency, attributes, run_id, ingested_at)
		SELECT source, event_id, namespace, user_id, touchpoint, system, type, occurred_at,
			amount, currency, attributes, run_id, ingested_at FROM events_stage
		ON CONFLICT (source, event_id) DO NOTHING`)
	if err != nil || merged == nil {
		return n, err
	}
	return int(merged.RowsAffected()), nil
}

func (s *pgStore) writeQuarantine(ctx context.Context, tx pgx.Tx, p *prepared) error {
	n := len(p.quarantine)
	if n == 0 {
		return nil
	}
	if n < s.copyThreshold {
		src, run, id, check, reason, status, hash := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		raw, at := make([][]byte, n), make([]time.Time, n)
		for i, q := range p.quarantine {
			src[i], run[i], id[i], check[i], reason[i], raw[i], at[i], status[i], hash[i] = q.Source, q.RunID, q.EventID, q.Check, q.Reason, q.Raw, q.At, q.Status, RecordHash(q.Raw)
		}
		_, err := tx.Exec(ctx, `INSERT INTO quarantine (source, run_id, event_id, check_name, reason, raw, at, status, record_hash)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::timestamptz[], $8::text[], $9::text[])`,
			src, run, id, check, reason, raw, at, status, hash)
		return err
	}
	// Nothing conflicts here: COPY straight into the table.
	data := newCopyData(len(quarantineCols), n, 512)
	for i := range p.quarantine {
		q := &p.quarantine[i]
		data.row()
		data.text(q.Source)
		data.text(q.RunID)
		data.text(q.EventID)
		data.text(q.Check)
		data.text(q.Reason)
		data.bytes(q.Raw)
		data.timestamptz(q.At)
		data.text(q.Status)
		data.text(RecordHash(q.Raw))
	}
	defer data.release()
	return copyInto(ctx, tx, "quarantine", quarantineCols, data.end())
}

// writeKeys records the batch's unique keys; a key already recorded keeps
// its latest occurrence.
func (s *pgStore) writeKeys(ctx context.Context, tx pgx.Tx, p *prepared) error {
	const upsert = ` ON CONFLICT (source, check_name, key) DO UPDATE SET event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at
		WHERE EXCLUDED.occurred_at > unique_keys.occurred_at`
	n := len(p.keys)
	if n == 0 {
		return nil
	}
	if n < s.copyThreshold {
		src, check, key, id, at := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
		for i, k := range p.keys {
			src[i], check[i], key[i], id[i], at[i] = k.Source, k.Check, k.Key, k.EventID, k.OccurredAt
		}
		_, err := tx.Exec(ctx, `INSERT INTO unique_keys (source, check_name, key, event_id, occurred_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])`+upsert,
			src, check, key, id, at)
		return err
	}
	data := newCopyData(len(uniqueKeyCols), n, 128)
	for i := range p.keys {
		k := &p.keys[i]
		data.row()
		data.text(k.Source)
		data.text(k.Check)
		data.text(k.Key)
		data.text(k.EventID)
		data.timestamptz(k.OccurredAt)
	}
	rows := data.end()
	defer data.release()
	// Keys are mostly new too (see writeEvents); one recorded before, say
	// outside its window, sends the batch's keys through the upsert.
	_, err := copyOrMerge(ctx, tx, "unique_keys", uniqueKeyCols, rows,
		`CREATE TEMP TABLE unique_keys_stage (LIKE unique_keys) ON COMMIT DROP`,
		`INSERT INTO unique_keys (source, check_name, key, event_id, occurred_at)
		SELECT source, check_name, key, event_id, occurred_at FROM unique_keys_stage`+upsert)
	return err
}

// copyOrMerge writes rows (COPY data of cols) into table. It COPYs them
// straight in, which costs about two thirds of staging them, under a
// savepoint; should a row conflict with a unique key (one stored already,
// or a repeat among the rows), it rolls that back, copies the rows into a
// staging table that stage creates, and runs merge, whose result it
// returns. It returns nil when the straight COPY succeeded.
func copyOrMerge(ctx context.Context, tx pgx.Tx, table string, cols []string, rows []byte, stage, merge string) (*pgconn.CommandTag, error) {
	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		return nil, err
	}
	err = copyInto(ctx, sp, table, cols, rows)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil, sp.Commit(ctx) // releases the savepoint
	case !errors.As(err, &pgErr) || pgErr.Code != "23505": // unique_violation
		return nil, err
	}
	if err := sp.Rollback(ctx); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, stage); err != nil {
		return nil, err
	}
	if err := copyInto(ctx, tx, table+"_stage", cols, rows); err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, merge)
	if err != nil {
		return nil, err
	}
	return &tag, nil
}

func (s *pgStore) VerifyLedger(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		// Read the head first: everything up to it was committed with it,
		// and appends that land meanwhile come after it.
		var headSeq int64
		var headHash string
		if err := c.QueryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		rows, err := c.Query(ctx, `SELECT seq, source, run_id, at, config_hash, read, accepted, duplicates, quarantined,
			rejected, amount_read, amount_loaded, cursor, prev_hash, hash FROM ledger WHERE seq <= $1 ORDER BY seq`, headSeq)
		if err != nil {
			return err
		}
		var v verifier
		var e LedgerEntry
		_, err = pgx.ForEachRow(rows, []any{&e.Seq, &e.Source, &e.RunID, &e.At, &e.ConfigHash, &e.Read, &e.Accepted, &e.Duplicates,
			&e.Quarantined, &e.Rejected, &e.AmountRead, &e.AmountLoaded, &e.Cursor, &e.PrevHash, &e.Hash}, func() error {
			return v.next(e)
		})
		n = v.n
		if err != nil {
			return err
		}
		n, err = v.end(headSeq, headHash)
		return err
	})
	var broken *BrokenLinkError
	if err != nil && !errors.As(err, &broken) {
		return n, fmt.Errorf("verify ledger: %w", err)
	}
	return n, err
}
