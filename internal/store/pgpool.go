package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgPool lends connections from a pgxpool.Pool (pool_max_conns and the
// other pool_ settings of the DSN apply) to one function at a time.
type pgPool struct{ *pgxpool.Pool }

func (p *pgPool) with(ctx context.Context, fn func(*pgx.Conn) error) error {
	return p.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return fn(c.Conn()) })
}

func (p *pgPool) close() { p.Close() }
