package store

import (
	"context"
	"os"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
	"github.com/jackc/pgx/v5"
)

// pg is one throwaway PostgreSQL for the whole test binary, started by the
// first test that needs it; each test gets a database of its own.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// rawExec runs SQL on the store's database behind its back, as an
// operator (or an attacker) with database access could.
func rawExec(t testing.TB, s Store, query string) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch s := s.(type) {
	case *sqliteStore:
		_, err = s.db.ExecContext(ctx, query)
	case *pgStore:
		err = s.pool.with(ctx, func(c *pgx.Conn) error {
			_, err := c.Exec(ctx, query)
			return err
		})
	default:
		t.Fatalf("unknown store %T", s)
	}
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// rawString runs a query returning one text value, the same SQL on both.
func rawString(t testing.TB, s Store, query string) string {
	t.Helper()
	ctx := context.Background()
	var v *string
	var err error
	switch s := s.(type) {
	case *sqliteStore:
		err = s.db.QueryRowContext(ctx, query).Scan(&v)
	case *pgStore:
		err = s.pool.with(ctx, func(c *pgx.Conn) error { return c.QueryRow(ctx, query).Scan(&v) })
	default:
		t.Fatalf("unknown store %T", s)
	}
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if v == nil {
		return "<null>"
	}
	return *v
}
