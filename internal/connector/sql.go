package connector

import (
	"context"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// sqlReader streams the rows of a PostgreSQL query as records.
//
// With cursorColumn set, the query gets one parameter, $1: the cursor the
// last committed run stored, as text, or NULL on the first run. Being text,
// it fits a column of any type once cast, and NULL lets one query serve the
// first run too:
//
//	select * from payments
//	where updated_at > coalesce($1::timestamptz, '-infinity')
//	order by updated_at
//
// (for an integer column: where id > coalesce($1::bigint, 0) order by id).
// Order by the cursor column: the cursor stored is the largest value read,
// and the pipeline may store it after committing part of a run.
//
// Column values become: integers int64, float and real float64, numeric
// int64 without fractional digits (scale 0) and in range else float64 (a
// numeric(12,2) column is always double), text string, bool bool,
// timestamps and dates RFC 3339 strings in UTC, uuid its canonical string,
// json and jsonb decoded like the other connectors' JSON (numbers int64 or
// float64), bytea []byte, arrays []any, NULL nil, anything else its text.
type sqlReader struct {
	spec   *v1alpha1.SQLConnector
	conn   *pgx.Conn
	rows   pgx.Rows
	stored string
	newest string
	col    int // index of the cursor column, -1 without one
	names  []string
	oids   []uint32
	err    error // sticky: the run is over
}

func openSQL(ctx context.Context, s *v1alpha1.SQLConnector, opts Options) (Reader, error) {
	if opts.Secrets == nil {
		return nil, errors.New("spec.batch.sql.dsnSecretRef: no Secrets were given to read it")
	}
	ref := s.DSNSecretRef
	dsn, err := opts.Secrets.Value(ref)
	if err != nil {
		return nil, fmt.Errorf("spec.batch.sql.dsnSecretRef (Secret %s, key %s): %w", ref.Name, ref.Key, err)
	}
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return nil, fmt.Errorf("spec.batch.sql.dsnSecretRef: key %s of Secret %s is empty", ref.Key, ref.Name)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors redact the password; say where the DSN came from.
		return nil, fmt.Errorf("spec.batch.sql.dsnSecretRef (Secret %s, key %s) is not a PostgreSQL connection string: %w", ref.Name, ref.Key, err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL for spec.batch.sql: %w", err)
	}
	return &sqlReader{spec: s, conn: conn, stored: opts.Cursor, newest: opts.Cursor, col: -1}, nil
}

// start runs the query; rows then stream as Next asks for them.
func (r *sqlReader) start(ctx context.Context) error {
	var args []any
	if r.spec.CursorColumn != "" {
		if r.stored == "" {
			args = []any{nil}
		} else {
			args = []any{r.stored} // a Go string goes as text: PostgreSQL parses it as $1's type
		}
	}
	rows, err := r.conn.Query(ctx, r.spec.Query, args...)
	if err != nil {
		return fmt.Errorf("spec.batch.sql.query: %w", err)
	}
	r.rows = rows
	fds := rows.FieldDescriptions()
	r.names = make([]string, len(fds))
	r.oids = make([]uint32, len(fds))
	for i, fd := range fds {
		r.names[i] = fd.Name
		r.oids[i] = fd.DataTypeOID
		if fd.Name == r.spec.CursorColumn {
			r.col = i
		}
	}
	if r.spec.CursorColumn != "" && r.col < 0 {
		rows.Close()
		return fmt.Errorf("spec.batch.sql.cursorColumn %q is not a column of the query's result (its columns: %s)", r.spec.CursorColumn, strings.Join(r.names, ", "))
	}
	return nil
}

func (r *sqlReader) Next(ctx context.Context) (Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	rec, err := r.next(ctx)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			r.err = err
			if r.rows != nil {
				r.rows.Close()
			}
		}
	}
	return rec, err
}

func (r *sqlReader) next(ctx context.Context) (Record, error) {
	if r.rows == nil {
		if err := r.start(ctx); err != nil {
			return nil, err
		}
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, fmt.Errorf("spec.batch.sql.query: %w", err)
		}
		return nil, io.EOF
	}
	values, err := r.rows.Values()
	if err != nil {
		return nil, fmt.Errorf("spec.batch.sql.query: reading a row: %w", err)
	}
	raw := r.rows.RawValues()
	rec := make(Record, len(values))
	for i, v := range values {
		switch {
		case v == nil:
			rec[r.names[i]] = nil
		case r.oids[i] == pgtype.JSONOID || r.oids[i] == pgtype.JSONBOID:
			b := raw[i]
			if fds := r.rows.FieldDescriptions(); fds[i].Format == pgtype.BinaryFormatCode && r.oids[i] == pgtype.JSONBOID && len(b) > 0 {
				b = b[1:] // jsonb's binary format is a version byte, then the text
			}
			d, err := decodeJSON(b)
			if err != nil {
				return nil, decodeError(b, "column %s: %v", r.names[i], err)
			}
			rec[r.names[i]] = d
		default:
			rec[r.names[i]] = sqlValue(v)
		}
	}
	if r.col >= 0 && values[r.col] != nil {
		c := sqlCursorText(values[r.col])
		if compareCursors(c, r.newest) > 0 {
			r.newest = c
		}
	}
	return rec, nil
}

// Cursor is the largest cursorColumn value read so far, as text (RFC 3339
// with nanoseconds in UTC for timestamps), or the stored one when none is
// larger; "" without cursorColumn.
func (r *sqlReader) Cursor() string {
	if r.spec.CursorColumn == "" {
		return ""
	}
	return r.newest
}

func (r *sqlReader) Close() error {
	if r.rows != nil {
		r.rows.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.conn.Close(ctx)
}

// sqlValue converts a value as pgx decodes it to a record value.
func sqlValue(v any) any {
	switch t := v.(type) {
	case nil, string, bool, int64, float64, []byte:
		return t
	case int8:
		return int64(t)
	case int16:
		return int64(t)
	case int32:
		return int64(t)
	case int:
		return int64(t)
	case uint32:
		return int64(t)
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t)
		}
		return float64(t)
	case float32:
		return float64(t)
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano)
	case pgtype.Numeric:
		return numericValue(t)
	case [16]byte:
		return uuidString(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = sqlValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = sqlValue(e)
		}
		return out
	case fmt.Stringer:
		return t.String()
	case driver.Valuer:
		dv, err := t.Value()
		if err != nil {
			return fmt.Sprint(v)
		}
		if _, again := dv.(driver.Valuer); again {
			return fmt.Sprint(dv)
		}
		return sqlValue(dv)
	}
	return fmt.Sprint(v)
}

// numericValue is int64 for a numeric without fractional digits (as its
// scale gives them: 100.00 in a numeric(12,2) stays a float64) that fits,
// else float64;
// NaN and infinities are their text, as JSON has no number for them.
func numericValue(n pgtype.Numeric) any {
	if !n.Valid {
		return nil
	}
	if n.NaN {
		return "NaN"
	}
	if n.InfinityModifier != pgtype.Finite {
		return n.InfinityModifier.String()
	}
	if n.Exp >= 0 {
		i := new(big.Int).Set(n.Int)
		i.Mul(i, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n.Exp)), nil))
		if i.IsInt64() {
			return i.Int64()
		}
	}
	f, err := n.Float64Value()
	if err != nil || !f.Valid {
		return numericText(n)
	}
	return f.Float64
}

func numericText(n pgtype.Numeric) string {
	v, err := n.Value()
	if s, ok := v.(string); ok && err == nil {
		return s
	}
	return fmt.Sprint(n)
}

func uuidString(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// sqlCursorText renders a cursor column value as the text passed back as
// $1: exact for numerics and timestamps.
func sqlCursorText(v any) string {
	switch t := v.(type) {
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano)
	case pgtype.Numeric:
		return numericText(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 32)
	}
	switch c := sqlValue(v).(type) {
	case string:
		return c
	case int64:
		return strconv.FormatInt(c, 10)
	case float64:
		return strconv.FormatFloat(c, 'f', -1, 64)
	default:
		return fmt.Sprint(c)
	}
}
