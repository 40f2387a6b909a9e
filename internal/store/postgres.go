package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
		(SELECT 1 FROM event_keys e WHERE e.event_id = k.id AND e.source = $2) AS hit`, ids, source)
	if err != nil {
		return nil, fmt.Errorf("look up stored events of %s: %w", source, err)
	}
	return m, nil
}

func (s *pgStore) HeldInQuarantine(ctx context.Context, source string, hashes []string) (map[string]bool, error) {
	m, err := s.lookup(ctx, `SELECT k.id FROM unnest($1::text[]) AS k(id), LATERAL
		(SELECT 1 FROM quarantine q WHERE q.source = $2 AND q.hold_key = k.id LIMIT 1) AS hit`, hashes, source)
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
