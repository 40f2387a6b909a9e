package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"modernc.org/sqlite" // registers driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteTime is how the SQLite store writes times: UTC, fixed width, so
// that text order is time order.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

func fmtTime(t time.Time) string { return normTime(t).Format(sqliteTime) }

func parseTime(s string) (time.Time, error) { return time.Parse(sqliteTime, s) }

// sqliteChunk bounds the ids one lookup query sends (as one JSON array
// parameter, so SQLite's limit on bound variables does not apply).
const sqliteChunk = 5000

// sqliteRowsPerInsert is how many rows one multi-row INSERT writes: well
// under SQLite's limit of 32766 bound variables.
const sqliteRowsPerInsert = 200

type sqliteStore struct {
	db *sql.DB
}

// openSQLite opens (creating if need be) the database file at path, or a
// private in-memory database for "" and ":memory:".
//
// Every transaction begins IMMEDIATE, taking the write lock up front: two
// writers then queue on busy_timeout instead of one failing when it
// upgrades from reading to writing. A file database runs in WAL mode, so
// readers do not wait for the writer.
func openSQLite(ctx context.Context, path, upTo string) (Store, error) {
	memory := path == "" || path == ":memory:"
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	// A 16 MiB page cache per connection (it grows only as used). An
	// ingest uses two connections at once, one committing a batch while
	// the other looks up the next one's duplicates and keys. With 32 MiB
	// each its peak RSS still grew past 1M records (198 MiB, 224 MiB at
	// 3M); 16 MiB each, the old single connection's budget in all, measured
	// 160 MiB at 1M and no slower.
	q.Add("_pragma", "cache_size(-16384)")
	q.Set("_txlock", "immediate")
	var dsn string
	if memory {
		dsn = ":memory:?" + q.Encode()
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// The path goes into a file: URI; escape what a URI would read as
		// its query or fragment.
		esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
		dsn = "file:" + esc + "?" + q.Encode()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open SQLite store %q: %w", path, err)
	}
	if memory {
		// Each connection to :memory: is a database of its own: keep
		// exactly one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	} else {
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(4)
	}
	s := &sqliteStore{db: db}
	// Switching a new file to WAL takes a lock that SQLite does not wait
	// for, so stores opening the same new file at once may be told it is
	// busy: wait and try again, for as long as busy_timeout would.
	for wait := 10 * time.Millisecond; ; wait *= 2 {
		err = s.migrate(ctx, upTo)
		if !isBusy(err) || wait > 5*time.Second {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open SQLite store %q: %w", path, err)
	}
	return s, nil
}

// isBusy says whether err is SQLite's SQLITE_BUSY.
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

func (s *sqliteStore) migrate(ctx context.Context, upTo string) error {
	all, err := loadMigrations("sqlite", upTo)
	if err != nil {
		return err
	}
	// BEGIN IMMEDIATE: a second process opening the same file waits here
	// rather than applying the same migration twice.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return err
	}
	todo, err := pending(all, applied)
	if err != nil {
		return err
	}
	for _, m := range todo {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.version, fmtTime(time.Now())); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func appliedVersions(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

func (s *sqliteStore) Close() error { return s.db.Close() }

// lookup runs query once per chunk of ids, the chunk bound as a JSON array
// to the first parameter, and collects the first column of every row. The
// queries walk the ids and probe an index for each (EXISTS), as in
// PostgreSQL.
func (s *sqliteStore) lookup(ctx context.Context, query string, ids []string, args ...any) (map[string]bool, error) {
	found := map[string]bool{}
	ids = dedupe(ids)
	err := chunks(ids, sqliteChunk, func(c []string) error {
		arr, err := json.Marshal(c)
		if err != nil {
			return err
		}
		rows, err := s.db.QueryContext(ctx, query, append([]any{string(arr)}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			found[id] = true
		}
		return rows.Err()
	})
	return found, err
}

func (s *sqliteStore) ExistingEvents(ctx context.Context, source string, ids []string) (map[string]bool, error) {
	m, err := s.lookup(ctx, `SELECT j.value FROM json_each(?) AS j
		WHERE EXISTS (SELECT 1 FROM events e WHERE e.source = ? AND e.event_id = j.value)`, ids, source)
	if err != nil {
		return nil, fmt.Errorf("look up stored events of %s: %w", source, err)
	}
	return m, nil
}

func (s *sqliteStore) HeldInQuarantine(ctx context.Context, source string, hashes []string) (map[string]bool, error) {
	m, err := s.lookup(ctx, `SELECT j.value FROM json_each(?) AS j
		WHERE EXISTS (SELECT 1 FROM quarantine q WHERE q.source = ? AND q.record_hash = j.value AND q.status = 'Pending')`, hashes, source)
	if err != nil {
		return nil, fmt.Errorf("look up quarantined records of %s: %w", source, err)
	}
	return m, nil
}

func (s *sqliteStore) ExistingKeys(ctx context.Context, source, check string, keys []string, since time.Time) (map[string]bool, error) {
	m, err := s.lookup(ctx, `SELECT j.value FROM json_each(?) AS j
		WHERE EXISTS (SELECT 1 FROM unique_keys u WHERE u.source = ? AND u.check_name = ? AND u.key = j.value AND u.occurred_at >= ?)`,
		keys, source, check, fmtTime(since))
	if err != nil {
		return nil, fmt.Errorf("look up keys of unique check %q of %s: %w", check, source, err)
	}
	return m, nil
}

func (s *sqliteStore) KnownUsers(ctx context.Context, namespace, touchpoint string, userIDs []string) (map[string]bool, error) {
	m, err := s.lookup(ctx, `SELECT j.value FROM json_each(?) AS j
		WHERE EXISTS (SELECT 1 FROM events e WHERE e.namespace = ? AND e.touchpoint = ? AND e.user_id = j.value)`,
		userIDs, namespace, touchpoint)
	if err != nil {
		return nil, fmt.Errorf("look up users of touchpoint %q in namespace %s: %w", touchpoint, namespace, err)
	}
	return m, nil
}

func (s *sqliteStore) Cursor(ctx context.Context, source string) (string, error) {
	var c string
	err := s.db.QueryRowContext(ctx, `SELECT cursor FROM cursors WHERE source = ?`, source).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read cursor of %s: %w", source, err)
	}
	return c, nil
}

// The rowid is the ingestion sequence: it only grows, events are never
// deleted. Each commit records its sources' newest in source_seq.
func (s *sqliteStore) LatestSeq(ctx context.Context, sources []string) (int64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM source_seq WHERE source IN (SELECT value FROM json_each(?))`,
		jsonText(sources)).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("read the newest event: %w", err)
	}
	return seq, nil
}

func jsonText(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

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
			})
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

func (s *sqliteStore) Quarantined(ctx context.Context, source string, limit int) ([]QuarantineRecord, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, source, run_id, event_id, check_name, reason, raw, at, status
		FROM quarantine WHERE source = ? ORDER BY id LIMIT ?`, source, limit)
	if err != nil {
		return nil, fmt.Errorf("read quarantine of %s: %w", source, err)
	}
	defer rows.Close()
	var out []QuarantineRecord
	for rows.Next() {
		var q QuarantineRecord
		var at string
		if err := rows.Scan(&q.ID, &q.Source, &q.RunID, &q.EventID, &q.Check, &q.Reason, &q.Raw, &at, &q.Status); err != nil {
			return nil, fmt.Errorf("read quarantine of %s: %w", source, err)
		}
		if q.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read quarantined record %d: %w", q.ID, err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read quarantine of %s: %w", source, err)
	}
	return out, nil
}

func (s *sqliteStore) Commit(ctx context.Context, b Batch) (CommitResult, error) {
	p, err := prepareBatch(b, time.Now())
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit batch of %s: %w", b.Source, err)
	}
	inserted, err := s.commit(ctx, p)
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit batch of %s: %w", b.Source, cancelled(ctx, err))
	}
	return p.result(b, inserted), nil
}

func (s *sqliteStore) commit(ctx context.Context, p *prepared) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil) // IMMEDIATE: see openSQLite
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()

	now := fmtTime(p.now)
	// OR IGNORE rather than ON CONFLICT DO NOTHING: the same here (the
	// primary key is the table's only unique constraint, and no column
	// written NOT NULL can be NULL: they are bound to Go strings), but a
	// statement that can abort half-way must keep a statement journal of
	// every page it changes, and with the four indexes events had then,
	// that journal spilled to a temporary file on each multi-row INSERT: a
	// fifth of a commit's time.
	inserted, err := insertRows(ctx, tx,
		`INSERT OR IGNORE INTO events (source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount, currency, attributes, run_id, ingested_at) VALUES `,
		13, ``, len(p.events), func(i int, a []any) []any {
			e := &p.events[i]
			var attrs any
			if e.attrs != nil {
				attrs = string(e.attrs)
			}
			var amount any
			if e.amount != nil {
				amount = *e.amount
			}
			return append(a, e.Source, e.EventID, e.Namespace, e.UserID, e.Touchpoint, e.System, e.Type,
				fmtTime(e.OccurredAt), amount, e.Currency, attrs, e.RunID, now)
		})
	if err != nil {
		return 0, fmt.Errorf("write events: %w", err)
	}
	if len(p.events) > 0 {
		// The transaction is the only writer: the largest rowid is this
		// batch's newest event, or one before it.
		if _, err := tx.ExecContext(ctx, `INSERT INTO source_seq (source, seq)
			SELECT value, (SELECT COALESCE(MAX(rowid), 0) FROM events) FROM json_each(?) WHERE true
			ON CONFLICT (source) DO UPDATE SET seq = excluded.seq`, jsonText(p.eventSources)); err != nil {
			return 0, fmt.Errorf("advance the events sequence: %w", err)
		}
	}

	if _, err := insertRows(ctx, tx,
		`INSERT INTO quarantine (source, run_id, event_id, check_name, reason, raw, at, status, record_hash) VALUES `,
		9, ``, len(p.quarantine), func(i int, a []any) []any {
			q := &p.quarantine[i]
			return append(a, q.Source, q.RunID, q.EventID, q.Check, q.Reason, q.Raw, fmtTime(q.At), q.Status, RecordHash(q.Raw))
		}); err != nil {
		return 0, fmt.Errorf("write quarantined records: %w", err)
	}

	if _, err := insertRows(ctx, tx,
		`INSERT INTO unique_keys (source, check_name, key, event_id, occurred_at) VALUES `,
		5, ` ON CONFLICT (source, check_name, key) DO UPDATE SET event_id = excluded.event_id, occurred_at = excluded.occurred_at
			WHERE excluded.occurred_at > unique_keys.occurred_at`, len(p.keys), func(i int, a []any) []any {
			k := &p.keys[i]
			return append(a, k.Source, k.Check, k.Key, k.EventID, fmtTime(k.OccurredAt))
		}); err != nil {
		return 0, fmt.Errorf("write unique keys: %w", err)
	}

	if p.cursor != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO cursors (source, cursor, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
			p.source, *p.cursor, now); err != nil {
			return 0, fmt.Errorf("advance cursor: %w", err)
		}
	}

	if l := p.ledger; l != nil {
		var seq int64
		var hash string
		if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
			return 0, fmt.Errorf("read ledger head: %w", err)
		}
		p.link(seq, hash)
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (seq, source, run_id, at, config_hash, read, accepted, duplicates,
			quarantined, rejected, amount_read, amount_loaded, cursor, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			l.Seq, l.Source, l.RunID, fmtTime(l.At), l.ConfigHash, l.Read, l.Accepted, l.Duplicates,
			l.Quarantined, l.Rejected, l.AmountRead, l.AmountLoaded, l.Cursor, l.PrevHash, l.Hash); err != nil {
			return 0, fmt.Errorf("append ledger entry: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1`, l.Seq, l.Hash); err != nil {
			return 0, fmt.Errorf("move ledger head: %w", err)
		}
	}

	if r := p.run; r != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs (id, source, outcome, message, started_at, finished_at, read, accepted,
			duplicates, quarantined, rejected, warnings, amount_read, amount_loaded, currency, cursor, config_hash, ledger_hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET source = excluded.source, outcome = excluded.outcome, message = excluded.message,
				started_at = excluded.started_at, finished_at = excluded.finished_at, read = excluded.read,
				accepted = excluded.accepted, duplicates = excluded.duplicates, quarantined = excluded.quarantined,
				rejected = excluded.rejected, warnings = excluded.warnings, amount_read = excluded.amount_read,
				amount_loaded = excluded.amount_loaded, currency = excluded.currency, cursor = excluded.cursor,
				config_hash = excluded.config_hash, ledger_hash = excluded.ledger_hash`,
			r.ID, r.Source, r.Outcome, r.Message, fmtTime(r.StartedAt), fmtTime(r.FinishedAt), r.Read, r.Accepted,
			r.Duplicates, r.Quarantined, r.Rejected, r.Warnings, r.AmountRead, r.AmountLoaded, r.Currency, r.Cursor,
			r.ConfigHash, r.LedgerHash); err != nil {
			return 0, fmt.Errorf("record run %s: %w", r.ID, err)
		}
	}

	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return inserted, nil
}

// insertRows writes n rows with multi-row INSERTs of up to
// sqliteRowsPerInsert rows each, row appending row i's ncol values to a.
// It returns the rows the statements affected: with ON CONFLICT DO NOTHING,
// the rows inserted.
func insertRows(ctx context.Context, tx *sql.Tx, head string, ncol int, tail string, n int, row func(i int, a []any) []any) (int, error) {
	if n == 0 {
		return 0, nil
	}
	stmt := func(rows int) string {
		tuple := "(" + strings.Repeat("?, ", ncol-1) + "?)"
		return head + strings.Repeat(tuple+", ", rows-1) + tuple + tail
	}
	var full *sql.Stmt
	if n >= sqliteRowsPerInsert {
		var err error
		if full, err = tx.PrepareContext(ctx, stmt(sqliteRowsPerInsert)); err != nil {
			return 0, err
		}
		defer full.Close()
	}
	args := make([]any, 0, min(n, sqliteRowsPerInsert)*ncol)
	affected := 0
	for start := 0; start < n; start += sqliteRowsPerInsert {
		end := min(start+sqliteRowsPerInsert, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = row(i, args)
		}
		var res sql.Result
		var err error
		if end-start == sqliteRowsPerInsert {
			res, err = full.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, stmt(end-start), args...)
		}
		if err != nil {
			return 0, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		affected += int(k)
	}
	return affected, nil
}

func (s *sqliteStore) VerifyLedger(ctx context.Context) (int64, error) {
	// Read the head first: everything up to it was committed with it, and
	// appends that land meanwhile come after it.
	var headSeq int64
	var headHash string
	if err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return 0, fmt.Errorf("verify ledger: read head: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, source, run_id, at, config_hash, read, accepted, duplicates, quarantined,
		rejected, amount_read, amount_loaded, cursor, prev_hash, hash FROM ledger WHERE seq <= ? ORDER BY seq`, headSeq)
	if err != nil {
		return 0, fmt.Errorf("verify ledger: %w", err)
	}
	defer rows.Close()
	var v verifier
	for rows.Next() {
		var e LedgerEntry
		var at string
		if err := rows.Scan(&e.Seq, &e.Source, &e.RunID, &at, &e.ConfigHash, &e.Read, &e.Accepted, &e.Duplicates, &e.Quarantined,
			&e.Rejected, &e.AmountRead, &e.AmountLoaded, &e.Cursor, &e.PrevHash, &e.Hash); err != nil {
			return v.n, fmt.Errorf("verify ledger: %w", err)
		}
		if e.At, err = parseTime(at); err != nil {
			return v.n, &BrokenLinkError{Seq: e.Seq, Reason: fmt.Sprintf("time %q does not parse: %v", at, err)}
		}
		if err := v.next(e); err != nil {
			return v.n, err
		}
	}
	if err := rows.Err(); err != nil {
		return v.n, fmt.Errorf("verify ledger: %w", err)
	}
	return v.end(headSeq, headHash)
}
