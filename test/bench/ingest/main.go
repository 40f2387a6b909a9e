// Command ingest measures `journey ingest` (`make bench-ingest`): N
// synthetic Stripe-shaped billing records through seven checks, into
// PostgreSQL next to a plain COPY of the same rows into the same server, and
// into SQLite next to plain batched INSERTs; and the ingest process's peak
// RSS at two input sizes, to show it stays flat as the input grows.
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
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "modernc.org/sqlite"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

func main() {
	n := flag.Int("records", 1_000_000, "billing records")
	small := flag.Int("small", 200_000, "a smaller input, to compare peak RSS")
	binary := flag.String("journey", "bin/journey", "the journey binary")
	flag.Parse()
	abs, err := filepath.Abs(*binary)
	if err == nil {
		err = run(*n, *small, abs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-ingest:", err)
		os.Exit(1)
	}
}

const users = 50_000

func run(n, small int, binary string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeCRM(filepath.Join(dir, "crm.jsonl")); err != nil {
		return err
	}
	if err := writeBilling(filepath.Join(dir, "billing.jsonl"), n); err != nil {
		return err
	}
	if err := writeBilling(filepath.Join(dir, "billing-small.jsonl"), small); err != nil {
		return err
	}

	srv, err := pgtest.NewServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()

	fmt.Printf("bench-ingest: %d Stripe-shaped billing records, 7 checks (expression ×3, unique, relationship, notNull, acceptedValues)\n", n)

	// PostgreSQL: journey ingest, then a plain COPY of the same rows.
	dsn, err := srv.CreateDatabase(ctx)
	if err != nil {
		return err
	}
	if _, _, err := ingest(binary, dir, "crm", "crm.jsonl", dsn); err != nil {
		return err
	}
	pgTime, pgRSS, err := ingest(binary, dir, "billing", "billing.jsonl", dsn)
	if err != nil {
		return err
	}
	rows, err := readRows(filepath.Join(dir, "billing.jsonl"))
	if err != nil {
		return err
	}
	copyTime, err := pgCopy(ctx, dsn, rows)
	if err != nil {
		return err
	}

	// SQLite: journey ingest, then plain batched INSERTs.
	sqlitePath := filepath.Join(dir, "journey.db")
	sdsn := "sqlite://" + sqlitePath
	if _, _, err := ingest(binary, dir, "crm", "crm.jsonl", sdsn); err != nil {
		return err
	}
	liteTime, liteRSS, err := ingest(binary, dir, "billing", "billing.jsonl", sdsn)
	if err != nil {
		return err
	}
	insertTime, err := sqliteInserts(filepath.Join(dir, "baseline.db"), rows)
	if err != nil {
		return err
	}
	rows = nil

	// Peak RSS on a smaller input, fresh SQLite store.
	smallDSN := "sqlite://" + filepath.Join(dir, "small.db")
	if _, _, err := ingest(binary, dir, "crm", "crm.jsonl", smallDSN); err != nil {
		return err
	}
	_, smallRSS, err := ingest(binary, dir, "billing", "billing-small.jsonl", smallDSN)
	if err != nil {
		return err
	}

	rate := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
	fmt.Printf("  PostgreSQL  journey ingest   %8.1fs  %9.0f records/s  peak RSS %6.1f MiB\n", pgTime.Seconds(), rate(pgTime), pgRSS)
	fmt.Printf("              plain COPY       %8.1fs  %9.0f records/s\n", copyTime.Seconds(), rate(copyTime))
	fmt.Printf("              ratio ingest / COPY (records/s)        %5.2f\n", rate(pgTime)/rate(copyTime))
	fmt.Printf("  SQLite      journey ingest   %8.1fs  %9.0f records/s  peak RSS %6.1f MiB\n", liteTime.Seconds(), rate(liteTime), liteRSS)
	fmt.Printf("              batched INSERTs  %8.1fs  %9.0f records/s\n", insertTime.Seconds(), rate(insertTime))
	fmt.Printf("              ratio ingest / INSERTs (records/s)     %5.2f\n", rate(liteTime)/rate(insertTime))
	fmt.Printf("  peak RSS of journey ingest: %.1f MiB at %d records, %.1f MiB at %d records (SQLite)\n", smallRSS, small, liteRSS, n)
	return nil
}

// ingest runs `journey ingest` on one source and returns its wall time and
// peak RSS in MiB.
func ingest(binary, dir, name, file, dsn string) (time.Duration, float64, error) {
	cfg := config(name, file)
	cfgPath := filepath.Join(dir, name+".json")
	data, _, err := runconfig.Encode(cfg)
	if err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(binary, "ingest", "--config", cfgPath, "--store", dsn, "--termination-log", filepath.Join(dir, "none"))
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	// The child's own high-water mark (VmHWM), polled while it runs: the
	// rusage maxrss of a child keeps the parent's across exec on Linux.
	peak := make(chan int)
	stop := make(chan struct{})
	go func() {
		max := 0
		for {
			if kb := vmHWM(cmd.Process.Pid); kb > max {
				max = kb
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
		return 0, 0, fmt.Errorf("journey ingest %s: %v\n%s", name, err, out.String())
	}
	var sum struct {
		Read, Accepted, Quarantined, Rejected int64
		Outcome                               string
	}
	_ = json.Unmarshal([]byte(out.String()), &sum)
	fmt.Fprintf(os.Stderr, "  (%s into %s: read %d, accepted %d, quarantined %d, rejected %d, %s)\n",
		name, strings.SplitN(dsn, ":", 2)[0], sum.Read, sum.Accepted, sum.Quarantined, sum.Rejected, sum.Outcome)
	return took, float64(hwm) / 1024, nil
}

// vmHWM reads a live process's peak resident set in KiB (0 once it is gone).
func vmHWM(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}

func config(name, file string) runconfig.Source {
	labels := map[string]string{"domain": name}
	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name, Labels: labels},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: name, System: "bench", Financial: name == "billing",
			Batch: &v1alpha1.BatchSource{Schedule: "@hourly", File: &v1alpha1.FileConnector{Path: file, Format: v1alpha1.FileFormatJSONLines}},
		},
	}
	if name == "crm" {
		src.Spec.Mapping = v1alpha1.EventMapping{EventID: "record.id", UserID: "record.user", OccurredAt: "timestamp(int(record.created))", Type: `"crm.account"`}
		return render.SourceConfig(src, nil)
	}
	src.Spec.Mapping = v1alpha1.EventMapping{
		EventID: "record.id", UserID: "record.data.object.customer", OccurredAt: "timestamp(int(record.created))", Type: "record.type",
		Amount: "double(record.data.object.amount_paid) / 100.0", Currency: "record.data.object.currency",
		Attributes: map[string]v1alpha1.Expression{"paymentIntent": "record.data.object.payment_intent"},
	}
	rule := v1alpha1.ValidationRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "billing-controls"},
		Spec: v1alpha1.ValidationRuleSpec{Checks: []v1alpha1.Check{
			{Name: "amount-non-negative", Expression: "event.amount == null || event.amount >= 0.0", Action: v1alpha1.ActionQuarantine},
			{Name: "one-payment-per-intent", Unique: &v1alpha1.UniqueCheck{Key: "record.data.object.payment_intent", Window: &metav1.Duration{Duration: 720 * time.Hour}}, Action: v1alpha1.ActionQuarantine},
			{Name: "customer-known", Relationship: &v1alpha1.RelationshipCheck{Key: "event.userID", Touchpoint: "crm"}, Action: v1alpha1.ActionQuarantine},
			{Name: "required", NotNull: []v1alpha1.Expression{"event.userID"}, Action: v1alpha1.ActionReject},
			{Name: "currency", AcceptedValues: &v1alpha1.AcceptedValuesCheck{Key: "event.currency", Values: []string{"usd", "eur", "gbp"}}, Action: v1alpha1.ActionWarn},
			{Name: "test-mode", Expression: "!has(record.livemode) || record.livemode", Action: v1alpha1.ActionReject},
			{Name: "invoice-amount", Expression: `!event.type.startsWith("invoice.") || event.amount != null`, Action: v1alpha1.ActionQuarantine},
		}},
	}
	return render.SourceConfig(src, []v1alpha1.ValidationRule{rule})
}

func writeCRM(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for u := 0; u < users; u++ {
		fmt.Fprintf(w, `{"id":"acct_%d","user":"cus_%06d","created":1756684800}`+"\n", u, u)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// writeBilling writes n records, about 1% of them with a planted anomaly.
func writeBilling(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"invoice.paid", "invoice.paid", "invoice.paid", "invoice.payment_failed", "charge.refunded"}
	for i := 0; i < n; i++ {
		cust := fmt.Sprintf("cus_%06d", r.IntN(users))
		amount := 999 + r.IntN(2000)
		currency, pi, live := "usd", fmt.Sprintf("pi_%d", i), "true"
		switch r.IntN(400) {
		case 0:
			amount = -amount
		case 1:
			cust = "cus_unknown"
		case 2:
			pi = fmt.Sprintf("pi_%d", i/2) // a second payment of an intent
		case 3:
			currency = "xxx"
		}
		if r.IntN(1000) == 0 {
			live = "false"
		}
		fmt.Fprintf(w, `{"id":"evt_%d","type":%q,"created":%d,"livemode":%s,"data":{"object":{"customer":%q,"amount_paid":%d,"currency":%q,"payment_intent":%q}}}`+"\n",
			i, types[r.IntN(len(types))], 1756684800+i, live, cust, amount, currency, pi)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
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

// sqliteInserts is SQLite's own limit: multi-row INSERTs of 200 rows in
// transactions of 5000, into a table with the events table's columns.
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
	start := time.Now()
	const per, txSize = 200, 5000
	for lo := 0; lo < len(rows); lo += txSize {
		tx, err := db.Begin()
		if err != nil {
			return 0, err
		}
		for i := lo; i < min(lo+txSize, len(rows)); i += per {
			chunk := rows[i:min(i+per, len(rows), lo+txSize)]
			q := "INSERT INTO baseline_events VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?),", len(chunk)), ",")
			args := make([]any, 0, 12*len(chunk))
			for _, r := range chunk {
				args = append(args, "bench/billing", "bench", r.id, r.user, "billing", "bench", r.typ, r.at.Format(time.RFC3339Nano),
					fmt.Sprint(r.amount), r.currency, r.attrs, "baseline")
			}
			if _, err := tx.Exec(q, args...); err != nil {
				return 0, err
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
