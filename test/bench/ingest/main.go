// Command ingest measures `journey ingest` (`make bench-ingest`): N
// synthetic Stripe-shaped billing records through seven checks, into
// PostgreSQL next to a plain COPY of the same rows into the same server, and
// into SQLite next to plain batched INSERTs; and the ingest process's peak
// RSS at two input sizes, to show it stays flat as the input grows.
//
// Each store has baselines. The bare one (a table with the events table's
// columns and nothing else) is what the aim's ratio is against. The
// indexed one writes the same rows as the store keeps them, with its
// key and indexes (PostgreSQL: each event's key into a table LIKE
// event_keys, the event into one LIKE events INCLUDING ALL; SQLite: the
// events table of a freshly migrated store): the floor of any store that
// keeps exactly-once on (source, eventID) and the indexes evaluation
// reads by. PostgreSQL has a third, between the two: the events
// table's primary key alone, the floor of exactly-once whatever else is
// indexed.
//
// The ingest runs as its own process (bin/journey ingest), as in a pod.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
	"github.com/cjm-dev/journey-operator/internal/testutil"
	"github.com/cjm-dev/journey-operator/test/bench/ingest/billing"
)

func main() {
	n := flag.Int("records", 1_000_000, "billing records")
	small := flag.Int("small", 200_000, "a smaller input, to compare peak RSS")
	binary := flag.String("journey", "bin/journey", "the journey binary")
	flag.IntVar(&batchSize, "batch-size", 0, "journey ingest --batch-size (0: its default)")
	flag.BoolVar(&childStderr, "child-stderr", false, "show journey ingest's standard error, with GODEBUG=gctrace=1")
	only := flag.String("store", "", "postgres or sqlite: measure only that store (and skip the peak RSS comparison)")
	flag.Parse()
	abs, err := filepath.Abs(*binary)
	if err == nil {
		err = run(*n, *small, abs, *only)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-ingest:", err)
		os.Exit(1)
	}
}

var (
	batchSize   int
	childStderr bool
)

func run(n, small int, binary, only string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := billing.WriteCRM(filepath.Join(dir, "crm.jsonl")); err != nil {
		return err
	}
	if err := billing.WriteBilling(filepath.Join(dir, "billing.jsonl"), n); err != nil {
		return err
	}
	if err := billing.WriteBilling(filepath.Join(dir, "billing-small.jsonl"), small); err != nil {
		return err
	}

	srv, err := pgtest.NewServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()

	fmt.Printf("bench-ingest: %d Stripe-shaped billing records, 7 checks (expression ×3, unique, relationship, notNull, acceptedValues)\n", n)

	rows, err := readRows(filepath.Join(dir, "billing.jsonl"))
	if err != nil {
		return err
	}
	rate := func(d time.Duration) float64 { return float64(n) / d.Seconds() }

	if only == "" || only == "postgres" {
		// PostgreSQL: journey ingest, then COPY of the same rows into a
		// bare table and into one with the events table's key and indexes.
		dsn, err := srv.CreateDatabase(ctx)
		if err != nil {
			return err
		}
		if _, err := ingest(binary, dir, "crm", "crm.jsonl", dsn); err != nil {
			return err
		}
		pg, err := ingest(binary, dir, "billing", "billing.jsonl", dsn)
		if err != nil {
			return err
		}
		copyTime, err := pgCopy(ctx, dsn, rows)
		if err != nil {
			return err
		}
		copyKeyTime, err := pgCopyIndexed(ctx, dsn, rows, true)
		if err != nil {
			return err
		}
		copyIdxTime, err := pgCopyIndexed(ctx, dsn, rows, false)
		if err != nil {
			return err
		}
		fmt.Printf("  PostgreSQL  journey ingest                   %7.1fs  %9.0f records/s  peak RSS %6.1f MiB  (its CPU %.1fs)\n", pg.took.Seconds(), rate(pg.took), pg.rss, pg.cpu.Seconds())
		fmt.Printf("              COPY, bare table                 %7.1fs  %9.0f records/s\n", copyTime.Seconds(), rate(copyTime))
		fmt.Printf("              COPY, events' primary key only   %7.1fs  %9.0f records/s\n", copyKeyTime.Seconds(), rate(copyKeyTime))
		fmt.Printf("              COPY, events' key and indexes    %7.1fs  %9.0f records/s\n", copyIdxTime.Seconds(), rate(copyIdxTime))
		fmt.Printf("              ratio ingest / bare COPY (the aim, >= 0.5)     %5.2f\n", rate(pg.took)/rate(copyTime))
		fmt.Printf("              ratio key-only COPY / bare COPY                %5.2f\n", rate(copyKeyTime)/rate(copyTime))
		fmt.Printf("              ratio indexed COPY / bare COPY                 %5.2f\n", rate(copyIdxTime)/rate(copyTime))
		fmt.Printf("              ratio ingest / indexed COPY (the floor)        %5.2f\n", rate(pg.took)/rate(copyIdxTime))
	}

	if only == "" || only == "sqlite" {
		// SQLite: journey ingest, then batched INSERTs of the same rows
		// into a bare table and into the events table of a fresh store.
		sdsn := "sqlite://" + filepath.Join(dir, "journey.db")
		if _, err := ingest(binary, dir, "crm", "crm.jsonl", sdsn); err != nil {
			return err
		}
		lite, err := ingest(binary, dir, "billing", "billing.jsonl", sdsn)
		if err != nil {
			return err
		}
		insertTime, err := sqliteInserts(filepath.Join(dir, "baseline.db"), rows)
		if err != nil {
			return err
		}
		insertIdxTime, err := sqliteInsertsIndexed(ctx, filepath.Join(dir, "baseline-indexed.db"), rows)
		if err != nil {
			return err
		}
		fmt.Printf("  SQLite      journey ingest                   %7.1fs  %9.0f records/s  peak RSS %6.1f MiB  (its CPU %.1fs)\n", lite.took.Seconds(), rate(lite.took), lite.rss, lite.cpu.Seconds())
		fmt.Printf("              INSERTs, bare table              %7.1fs  %9.0f records/s\n", insertTime.Seconds(), rate(insertTime))
		fmt.Printf("              INSERTs, events' key and indexes %7.1fs  %9.0f records/s\n", insertIdxTime.Seconds(), rate(insertIdxTime))
		fmt.Printf("              ratio ingest / bare INSERTs (the aim, >= 0.5)  %5.2f\n", rate(lite.took)/rate(insertTime))
		fmt.Printf("              ratio ingest / indexed INSERTs (the floor)     %5.2f\n", rate(lite.took)/rate(insertIdxTime))
		if only != "" {
			return nil
		}
		rows = nil

		// Peak RSS on a smaller input, fresh SQLite store.
		smallDSN := "sqlite://" + filepath.Join(dir, "small.db")
		if _, err := ingest(binary, dir, "crm", "crm.jsonl", smallDSN); err != nil {
			return err
		}
		sm, err := ingest(binary, dir, "billing", "billing-small.jsonl", smallDSN)
		if err != nil {
			return err
		}
		fmt.Printf("  peak RSS of journey ingest: %.1f MiB at %d records, %.1f MiB at %d records (SQLite)\n", sm.rss, small, lite.rss, n)
	}
	return nil
}

// measured is one `journey ingest`: wall time, peak RSS in MiB, and the CPU
// time (user and system) of the process.
type measured struct {
	took, cpu time.Duration
	rss       float64
}

// ingest runs `journey ingest` on one source and measures it.
func ingest(binary, dir, name, file, dsn string) (measured, error) {
	cfg := billing.Source(name, file)
	cfgPath := filepath.Join(dir, name+".json")
	data, _, err := runconfig.Encode(cfg)
	if err != nil {
		return measured{}, err
	}
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		return measured{}, err
	}
	args := []string{"ingest", "--config", cfgPath, "--store", dsn, "--termination-log", filepath.Join(dir, "none")}
	if batchSize > 0 {
		args = append(args, "--batch-size", strconv.Itoa(batchSize))
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if childStderr {
		cmd.Stderr = os.Stderr
		cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measured{}, err
	}
	// The child's own high-water mark (VmHWM), polled while it runs: the
	// rusage maxrss of a child keeps the parent's across exec on Linux.
	peak := make(chan int64)
	stop := make(chan struct{})
	go func() {
		var max int64
		for {
			if rss, _ := testutil.PeakRSS(cmd.Process.Pid); rss > max {
				max = rss
			}
			select {
			case <-stop:
				peak <- max
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	err = cmd.Wait()
	took := time.Since(start)
	close(stop)
	hwm := <-peak
	if err != nil {
		return measured{}, fmt.Errorf("journey ingest %s: %v\n%s", name, err, out.String())
	}
	var sum struct {
		Read, Accepted, Quarantined, Rejected int64
		Outcome                               string
	}
	_ = json.Unmarshal([]byte(out.String()), &sum)
	fmt.Fprintf(os.Stderr, "  (%s into %s: read %d, accepted %d, quarantined %d, rejected %d, %s)\n",
		name, strings.SplitN(dsn, ":", 2)[0], sum.Read, sum.Accepted, sum.Quarantined, sum.Rejected, sum.Outcome)
	return measured{took: took, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rss: float64(hwm) / (1 << 20)}, nil
}

// row is an event as the baselines write it: the same columns as the store.
type row struct {
	id, user, typ, currency, attrs string
	at                             time.Time
	amount                         float64
}

func readRows(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Created int64  `json:"created"`
			Data    struct {
				Object struct {
					Customer string  `json:"customer"`
					Amount   float64 `json:"amount_paid"`
					Currency string  `json:"currency"`
					PI       string  `json:"payment_intent"`
				} `json:"object"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, err
		}
		o := rec.Data.Object
		out = append(out, row{rec.ID, o.Customer, rec.Type, o.Currency, `{"paymentIntent":"` + o.PI + `"}`, time.Unix(rec.Created, 0).UTC(), o.Amount / 100})
	}
	return out, sc.Err()
}

// pgCopy is the server's own limit: COPY of the prepared rows into a table
// with the events table's columns.
func pgCopy(ctx context.Context, dsn string, rows []row) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE baseline_events (source text, namespace text, event_id text, user_id text,
		touchpoint text, system text, type text, occurred_at timestamptz, amount numeric, currency text, attributes jsonb, run_id text)`); err != nil {
		return 0, err
	}
	start := time.Now()
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"baseline_events"},
		[]string{"source", "namespace", "event_id", "user_id", "touchpoint", "system", "type", "occurred_at", "amount", "currency", "attributes", "run_id"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			return []any{"bench/billing", "bench", r.id, r.user, "billing", "bench", r.typ, r.at, r.amount, r.currency, r.attrs, "baseline"}, nil
		}))
	return time.Since(start), err
}

// pgCopyIndexed is the floor of a store that keeps exactly-once and the
// evaluation indexes: a COPY of the rows' keys into a table made LIKE
// event_keys INCLUDING ALL (its primary key) and one of the rows into a
// table made LIKE events INCLUDING ALL (its columns with their collations
// and defaults, and every index), after the store's migrations ran, with
// the columns the store writes. With keyOnly, one table with the events'
// columns and the primary key (event_id, source) and no other index: the
// floor of any store that keeps exactly-once on (source, eventID),
// whatever else it indexes.
func pgCopyIndexed(ctx context.Context, dsn string, rows []row, keyOnly bool) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	table, like := "baseline_indexed", "LIKE events INCLUDING ALL"
	if keyOnly {
		table, like = "baseline_keyed", "LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS, PRIMARY KEY (event_id, source)"
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE `+table+` (`+like+`)`); err != nil {
		return 0, err
	}
	if !keyOnly {
		if _, err := conn.Exec(ctx, `CREATE TABLE baseline_keys (LIKE event_keys INCLUDING ALL)`); err != nil {
			return 0, err
		}
	}
	var indexes, want int
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_indexes WHERE tablename = $1), (SELECT count(*) FROM pg_indexes WHERE tablename = 'events')`, table).
		Scan(&indexes, &want)
	if err != nil {
		return 0, err
	}
	if keyOnly {
		want = 1
	}
	if indexes != want {
		return 0, fmt.Errorf("%s has %d indexes, want %d", table, indexes, want)
	}
	ingested := time.Now()
	start := time.Now()
	if !keyOnly {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"baseline_keys"}, []string{"event_id", "source"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return []any{rows[i].id, "bench/billing"}, nil })); err != nil {
			return 0, err
		}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{table},
		[]string{"source", "event_id", "namespace", "user_id", "touchpoint", "system", "type", "occurred_at", "amount", "currency", "attributes", "run_id", "ingested_at"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			return []any{"bench/billing", r.id, "bench", r.user, "billing", "bench", r.typ, r.at, r.amount, r.currency, r.attrs, "baseline", ingested}, nil
		}))
	return time.Since(start), err
}

// sqliteInserts is SQLite's own limit: multi-row INSERTs (see
// insertBatches) into a table with the events table's columns.
func sqliteInserts(path string, rows []row) (time.Duration, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE baseline_events (source TEXT, namespace TEXT, event_id TEXT, user_id TEXT,
		touchpoint TEXT, system TEXT, type TEXT, occurred_at TEXT, amount TEXT, currency TEXT, attributes TEXT, run_id TEXT)`); err != nil {
		return 0, err
	}
	return insertBatches(db, rows, "INSERT INTO baseline_events VALUES ", func(r row) []any {
		return []any{"bench/billing", "bench", r.id, r.user, "billing", "bench", r.typ, r.at.Format(time.RFC3339Nano),
			fmt.Sprint(r.amount), r.currency, r.attrs, "baseline"}
	})
}

// sqliteInsertsIndexed is the same floor on SQLite: the loop of
// sqliteInserts, into the events table of a freshly migrated store database
// (its primary key and indexes), with the store's page cache, as INSERT OR
// IGNORE (the statement the store uses: it keeps no statement journal) and
// the store's encodings (fixed-width UTC times, decimal amounts).
func sqliteInsertsIndexed(ctx context.Context, path string, rows []row) (time.Duration, error) {
	st, err := store.Open(ctx, "sqlite://"+path)
	if err != nil {
		return 0, err
	}
	if err := st.Close(); err != nil {
		return 0, err
	}
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-16384)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	const timeFormat = "2006-01-02T15:04:05.000000Z"
	ingested := time.Now().UTC().Format(timeFormat)
	return insertBatches(db, rows, `INSERT OR IGNORE INTO events (source, event_id, namespace, user_id, touchpoint, system, type,
		occurred_at, amount, currency, attributes, run_id, ingested_at) VALUES `, func(r row) []any {
		return []any{"bench/billing", r.id, "bench", r.user, "billing", "bench", r.typ, r.at.Format(timeFormat),
			strconv.FormatFloat(r.amount, 'f', -1, 64), r.currency, r.attrs, "baseline", ingested}
	})
}

// insertBatches times inserting rows with insert (a statement up to
// VALUES) and the values of a row, 200 rows a statement, in transactions
// of 5000.
func insertBatches(db *sql.DB, rows []row, insert string, values func(row) []any) (time.Duration, error) {
	const per, txSize = 200, 5000
	start := time.Now()
	for lo := 0; lo < len(rows); lo += txSize {
		tx, err := db.Begin()
		if err != nil {
			return 0, err
		}
		for i := lo; i < min(lo+txSize, len(rows)); i += per {
			chunk := rows[i:min(i+per, len(rows), lo+txSize)]
			var args []any
			for _, r := range chunk {
				args = append(args, values(r)...)
			}
			row := "(" + strings.TrimSuffix(strings.Repeat("?,", len(args)/len(chunk)), ",") + "),"
			if _, err := tx.Exec(insert+strings.TrimSuffix(strings.Repeat(row, len(chunk)), ","), args...); err != nil {
				return 0, err
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
