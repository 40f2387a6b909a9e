package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

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
		WHERE EXISTS (SELECT 1 FROM quarantine q WHERE q.source = ? AND q.hold_key = j.value)`, hashes, source)
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
