package connector

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

// pg is one throwaway PostgreSQL for the package's tests; each test gets a
// fresh database. Without PostgreSQL the tests fail, saying what is missing.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

var dsnRef = v1alpha1.SecretKeyRef{Name: "warehouse", Key: "dsn"}

// pgDB returns the DSN of a fresh database after running setup in it.
func pgDB(t *testing.T, setup ...string) string {
	t.Helper()
	dsn := pg.DSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	for _, s := range setup {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return dsn
}

func exec(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func openSQLTest(t *testing.T, dsn string, s v1alpha1.SQLConnector, cursor string) Reader {
	t.Helper()
	s.DSNSecretRef = dsnRef
	r, err := Open(context.Background(), &v1alpha1.BatchSource{SQL: &s}, Options{Secrets: secrets{"warehouse/dsn": dsn + "\n"}, Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

const paymentsTable = `create table payments (
	id bigint primary key,
	amount numeric(12,2),
	cents integer,
	ratio double precision,
	note text,
	paid boolean,
	updated_at timestamptz not null,
	local_at timestamp,
	day date,
	meta jsonb,
	doc json,
	uid uuid,
	tags text[],
	blob bytea,
	huge numeric,
	wait interval
)`

func TestSQLValues(t *testing.T) {
	dsn := pgDB(t, paymentsTable, `insert into payments values
		(1, 42.50, 4250, 0.25, 'first', true, '2026-01-02 03:04:05.123456+00', '2026-01-02 03:04:05', '2026-01-02',
		 '{"plan":"pro","seats":3,"price":9.5,"nested":{"a":[1,2]}}', '{"x":1}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
		 '{a,b}', '\xdeadbeef', 123456789012345678901234567890, '1 day 2 hours'),
		(2, 100, null, null, null, null, '2026-01-03 00:00:00+02', null, null, null, null, null, null, null, null, null)`)
	r := openSQLTest(t, dsn, v1alpha1.SQLConnector{Query: "select * from payments order by id"}, "")
	rs, err := drain(t, r)
	if err != nil {
		t.Fatal(err)
	}
	recs := records(t, rs)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	want := Record{
		"id": int64(1), "amount": 42.5, "cents": int64(4250), "ratio": 0.25, "note": "first", "paid": true,
		"updated_at": "2026-01-02T03:04:05.123456Z", "local_at": "2026-01-02T03:04:05Z", "day": "2026-01-02T00:00:00Z",
		"meta": map[string]any{"plan": "pro", "seats": int64(3), "price": 9.5, "nested": map[string]any{"a": []any{int64(1), int64(2)}}},
		"doc":  map[string]any{"x": int64(1)},
		"uid":  "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"tags": []any{"a", "b"},
		"blob": []byte{0xde, 0xad, 0xbe, 0xef},
		"huge": 1.2345678901234568e29,
	}
	got := recs[0]
	wait, _ := got["wait"].(string)
	delete(got, "wait")
	if !reflect.DeepEqual(got, want) {
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Errorf("%s: got %#v, want %#v", k, got[k], want[k])
			}
		}
		t.Errorf("got %#v", got)
	}
	if !strings.Contains(wait, "26:00:00") && !strings.Contains(wait, "1 day") {
		t.Errorf("interval as %q", wait)
	}
	// numeric(12,2) is a double even when whole, so a column has one type.
	if recs[1]["amount"] != 100.0 || recs[1]["updated_at"] != "2026-01-02T22:00:00Z" || recs[1]["note"] != nil {
		t.Errorf("second record %#v", recs[1])
	}
	if _, ok := recs[1]["note"]; !ok {
		t.Error("a NULL column is absent rather than nil")
	}
	if r.Cursor() != "" {
		t.Errorf("no cursorColumn, but Cursor() = %q", r.Cursor())
	}
}

func TestSQLCursorTimestamp(t *testing.T) {
	dsn := pgDB(t, "create table events (id int, updated_at timestamptz)",
		`insert into events values (1, '2026-01-01 00:00:00+00'), (2, '2026-01-01 00:00:00.5+00'), (3, '2026-01-01 00:00:00.123456+00')`)
	spec := v1alpha1.SQLConnector{
		Query:        "select * from events where updated_at > coalesce($1::timestamptz, '-infinity') order by updated_at",
		CursorColumn: "updated_at",
	}
	run := func(cursor string) ([]Record, string) {
		t.Helper()
		r := openSQLTest(t, dsn, spec, cursor)
		rs, err := drain(t, r)
		if err != nil {
			t.Fatal(err)
		}
		return records(t, rs), r.Cursor()
	}

	recs, cur := run("") // first run: NULL, everything
	if len(recs) != 3 || cur != "2026-01-01T00:00:00.5Z" {
		t.Fatalf("first run: %d records, cursor %q", len(recs), cur)
	}
	recs, cur2 := run(cur) // nothing new: the cursor stays
	if len(recs) != 0 || cur2 != cur {
		t.Fatalf("second run: %d records, cursor %q", len(recs), cur2)
	}
	exec(t, dsn, `insert into events values (4, '2026-01-01 00:00:00.500001+00'), (5, '2025-12-31 00:00:00+00')`)
	recs, cur3 := run(cur)
	if len(recs) != 1 || recs[0]["id"] != int64(4) || cur3 != "2026-01-01T00:00:00.500001Z" {
		t.Fatalf("third run: %v, cursor %q; want only id 4 (microseconds survive the round trip)", recs, cur3)
	}
}

func TestSQLCursorInteger(t *testing.T) {
	dsn := pgDB(t, "create table events (id bigint, name text)",
		"insert into events select g, 'e' || g from generate_series(1, 12) g")
	spec := v1alpha1.SQLConnector{Query: "select id, name from events where id > coalesce($1::bigint, 0) order by id", CursorColumn: "id"}
	r := openSQLTest(t, dsn, spec, "")
	rs, err := drain(t, r)
	if err != nil || len(rs) != 12 || r.Cursor() != "12" {
		t.Fatalf("%d records, %v, cursor %q", len(rs), err, r.Cursor())
	}
	// 9 < 12 as numbers, not as text: the stored cursor stays when the
	// values read are smaller.
	r = openSQLTest(t, dsn, v1alpha1.SQLConnector{Query: "select id from events where id > $1::bigint - 5 order by id", CursorColumn: "id"}, "12")
	rs, err = drain(t, r)
	if err != nil || len(rs) != 5 || r.Cursor() != "12" {
		t.Fatalf("%d records, %v, cursor %q", len(rs), err, r.Cursor())
	}
	// Without a cast, PostgreSQL infers $1's type from the comparison.
	r = openSQLTest(t, dsn, v1alpha1.SQLConnector{Query: "select id from events where id > $1 order by id", CursorColumn: "id"}, "10")
	rs, err = drain(t, r)
	if err != nil || len(rs) != 2 || r.Cursor() != "12" {
		t.Fatalf("%d records, %v, cursor %q", len(rs), err, r.Cursor())
	}
}

func TestSQLCursorOtherTypes(t *testing.T) {
	dsn := pgDB(t, "create table t (n numeric, d date, s text, ts timestamp)",
		`insert into t values (1.5, '2026-01-01', 'a', '2026-01-01 10:00:00'), (10.25, '2026-02-01', 'b', '2026-01-01 10:00:00.75'), (null, null, null, null)`)
	for col, want := range map[string]string{"n": "10.25", "d": "2026-02-01T00:00:00Z", "s": "b", "ts": "2026-01-01T10:00:00.75Z"} {
		cast := map[string]string{"n": "numeric", "d": "date", "s": "text", "ts": "timestamp"}[col]
		q := "select * from t where $1::" + cast + " is null or " + col + " > $1::" + cast + " order by " + col
		r := openSQLTest(t, dsn, v1alpha1.SQLConnector{Query: q, CursorColumn: col}, "")
		if _, err := drain(t, r); err != nil {
			t.Fatal(err)
		}
		if r.Cursor() != want {
			t.Errorf("%s: cursor %q, want %q", col, r.Cursor(), want)
		}
		// The cursor round-trips: nothing is newer than it.
		r = openSQLTest(t, dsn, v1alpha1.SQLConnector{Query: q, CursorColumn: col}, want)
		if rs, err := drain(t, r); err != nil || len(rs) != 0 {
			t.Errorf("%s: after %q: %d records, %v", col, want, len(rs), err)
		}
	}
}

func TestSQLStreamsManyRows(t *testing.T) {
	dsn := pgDB(t)
	r := openSQLTest(t, dsn, v1alpha1.SQLConnector{
		Query:        "select g as id, md5(g::text) as h from generate_series(1, 200000) g where g > coalesce($1::int, 0) order by g",
		CursorColumn: "id",
	}, "")
	n := 0
	for {
		rec, err := r.Next(context.Background())
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatal(err)
		}
		n++
		if rec["id"] != int64(n) {
			t.Fatalf("row %d has id %v", n, rec["id"])
		}
	}
	if n != 200000 || r.Cursor() != "200000" {
		t.Errorf("%d rows, cursor %q", n, r.Cursor())
	}
}

func TestSQLErrors(t *testing.T) {
	dsn := pgDB(t, "create table t (id int)", "insert into t values (1)")
	r := openSQLTest(t, dsn, v1alpha1.SQLConnector{Query: "select id from t where id > coalesce($1::int, 0)", CursorColumn: "updated_at"}, "")
	if _, err := drain(t, r); err == nil || !strings.Contains(err.Error(), `cursorColumn "updated_at" is not a column`) || !strings.Contains(err.Error(), "id") {
		t.Errorf("missing cursor column: %v", err)
	}
	r = openSQLTest(t, dsn, v1alpha1.SQLConnector{Query: "select nope from t"}, "")
	if _, err := drain(t, r); err == nil || !strings.Contains(err.Error(), "spec.batch.sql.query") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("bad query: %v", err)
	}
	r = openSQLTest(t, dsn, v1alpha1.SQLConnector{Query: "select 1/(id-1) from t"}, "")
	_, err := drain(t, r)
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("failing query: %v", err)
	}
	if _, again := r.Next(context.Background()); again == nil {
		t.Error("Next after a failure succeeded")
	}

	for name, tc := range map[string]struct {
		secrets secrets
		want    string
	}{
		"no secret": {secrets{}, "warehouse"},
		"empty":     {secrets{"warehouse/dsn": " \n"}, "is empty"},
		"not a DSN": {secrets{"warehouse/dsn": "postgres://user:hunter2@host:notaport/db"}, "not a PostgreSQL connection string"},
		"no server": {secrets{"warehouse/dsn": "postgres://user:hunter2@127.0.0.1:1/db?connect_timeout=2"}, "connecting to PostgreSQL"},
	} {
		_, err := Open(context.Background(), &v1alpha1.BatchSource{SQL: &v1alpha1.SQLConnector{DSNSecretRef: dsnRef, Query: "select 1"}}, Options{Secrets: tc.secrets})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %q leaks the password", name, err)
		}
	}
}
