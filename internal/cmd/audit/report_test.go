package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/cmd/audit"
	"github.com/cjm-dev/journey-operator/internal/cmd/cmdtest"
	"github.com/cjm-dev/journey-operator/internal/cmd/review"
	"github.com/cjm-dev/journey-operator/internal/evidence"
	"github.com/cjm-dev/journey-operator/internal/store"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := audit.Run(context.Background(), args, &out)
	return out.String(), err
}

// The evidence a controller and an auditor read, on both stores: a run's
// records and amounts balance, a review is listed with who, why and how
// long records waited, the configuration names its editor, and the ledger's
// verification is part of it.
func TestReport(t *testing.T) {
	for _, b := range cmdtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			cmdtest.Fill(t, dsn)
			var out bytes.Buffer
			if err := review.Run(context.Background(), []string{"--store", dsn, "--source", cmdtest.Billing, "--check", "amount-non-negative",
				"--decision", "Release", "--reason", "credit notes confirmed with AR (FIN-231)", "--as", "carol@example.com",
				"--termination-log", "/nonexistent"}, &out); err != nil {
				t.Fatalf("review: %v\n%s", err, out.String())
			}

			js, err := run(t, "report", "--store", dsn, "--output", "json")
			if err != nil {
				t.Fatal(err)
			}
			var rep evidence.Report
			if err := json.Unmarshal([]byte(js), &rep); err != nil {
				t.Fatalf("json report: %v\n%s", err, js)
			}
			if len(rep.Runs) != 1 || !rep.Runs[0].Balanced || rep.Runs[0].Read != 8 || rep.Runs[0].Accepted != 4 || rep.Runs[0].Quarantined != 3 ||
				rep.Runs[0].Rejected != 1 || rep.Runs[0].AmountRead != "36.75" || rep.Runs[0].AmountLoaded != "46.00" ||
				rep.Runs[0].AmountQuarantined != "-9.25" || rep.Runs[0].AmountRejected != "-2.00" || rep.Runs[0].Outcome != "Quarantined" {
				t.Fatalf("runs: %+v", rep.Runs)
			}
			if len(rep.Reviews) != 1 || rep.Reviews[0].Reviewer != "carol@example.com" || rep.Reviews[0].Released != 2 ||
				rep.Reviews[0].Amount != "-9.25" || rep.Reviews[0].Identified != "self-declared" || rep.Reviews[0].TimeToResolve == 0 {
				t.Fatalf("reviews: %+v", rep.Reviews)
			}
			if len(rep.Changes) != 1 || rep.Changes[0].Editors[0].By != "alice@example.com" || !rep.Ledger.Verifies || rep.Ledger.Entries != 3 {
				t.Fatalf("changes %+v, ledger %+v", rep.Changes, rep.Ledger)
			}
			if len(rep.Pending) != 1 || rep.Pending[0].Pending != 1 || len(rep.Days) != 1 || !rep.Days[0].Balanced {
				t.Fatalf("pending %+v, days %+v", rep.Pending, rep.Days)
			}

			table, err := run(t, "report", "--store", dsn, "--source", cmdtest.Billing)
			if err != nil || !strings.Contains(table, "Ledger: verifies: 3 entries") || !strings.Contains(table, "carol@example.com") ||
				!strings.Contains(table, "TouchpointSource billing-stripe: alice@example.com") {
				t.Fatalf("table: %v\n%s", err, table)
			}
			text, err := run(t, "report", "--store", dsn, "--output", "csv")
			if err != nil {
				t.Fatal(err)
			}
			r := csv.NewReader(strings.NewReader(text))
			r.FieldsPerRecord = -1
			rows, err := r.ReadAll()
			if err != nil {
				t.Fatalf("csv: %v\n%s", err, text)
			}
			sections := map[string]int{}
			for _, row := range rows {
				if len(row) > 1 && row[0] != "section" {
					sections[row[0]]++
				}
			}
			if sections["run"] != 1 || sections["day"] != 1 || sections["review"] != 1 || sections["configuration"] != 1 || sections["ledger"] != 1 {
				t.Fatalf("csv sections %v\n%s", sections, text)
			}
			page, err := run(t, "report", "--store", dsn, "--output", "html")
			if err != nil || !strings.Contains(page, `id="runs"`) || !strings.Contains(page, "credit notes confirmed with AR (FIN-231)") {
				t.Fatalf("html: %v", err)
			}
			// A window before the run holds nothing of it.
			empty, err := run(t, "report", "--store", dsn, "--to", "2026-01-01", "--output", "json")
			if err != nil || !strings.Contains(empty, `"runs": null`) {
				t.Fatalf("an empty window: %v\n%s", err, empty)
			}
		})
	}
}

// Every tamper case is caught by the command, which exits non-zero naming
// the entry; an anchor recorded outside the store catches a rewritten
// chain.
func TestVerifyCommand(t *testing.T) {
	for _, b := range cmdtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			head := cmdtest.Fill(t, dsn)
			out, err := run(t, "verify", "--store", dsn, "--anchor", head)
			if err != nil || !strings.Contains(out, "2 entries") || !strings.Contains(out, "1 anchor(s)") || !strings.Contains(out, "7 rows") {
				t.Fatalf("intact: %v\n%s", err, out)
			}
			js, err := run(t, "verify", "--store", dsn, "--output", "json")
			var rep struct {
				Verifies bool
				store.VerifyReport
			}
			if err != nil || json.Unmarshal([]byte(js), &rep) != nil || !rep.Verifies || rep.Rows != 7 {
				t.Fatalf("json: %v\n%s", err, js)
			}
			out, err = run(t, "verify", "--store", dsn, "--anchor", "sha256:not-in-this-ledger")
			if !errors.Is(err, audit.ErrBroken) || !strings.Contains(out, "anchor sha256:not-in-this-ledger is not in the chain") {
				t.Fatalf("unknown anchor: %v\n%s", err, out)
			}
			execDSN(t, dsn, "UPDATE events SET amount = amount * 10 WHERE event_id = 'in_2'")
			out, err = run(t, "verify", "--store", dsn)
			if !errors.Is(err, audit.ErrBroken) || !strings.Contains(out, "BROKEN: audit ledger broken at entry 1: its rows do not match its digest") {
				t.Fatalf("tampered: %v\n%s", err, out)
			}
		})
	}
}

func TestReportRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--store", "sqlite://:memory:", "--output", "xml"}, `--output "xml": want one of table, csv, json, html`},
		{[]string{"report", "--store", "sqlite://:memory:", "--from", "yesterday"}, `--from "yesterday": want an RFC 3339 time`},
		{[]string{"report", "--store", "sqlite://:memory:", "--from", "2026-12-01", "--to", "2026-11-01"}, "is not before --to"},
		{[]string{"report", "--store", "sqlite://:memory:", "--source", "billing"}, `--source "billing": name it as namespace/name`},
		{[]string{"report"}, "no store: pass --store"},
		{[]string{"verify", "--store", "sqlite://:memory:", "--output", "yaml"}, `--output "yaml": want text or json`},
		{[]string{"sign"}, `unknown subcommand "sign"`},
	} {
		t.Setenv("JOURNEY_STORE_DSN", "")
		if _, err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
