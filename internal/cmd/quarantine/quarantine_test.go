package quarantine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/cmd/cmdtest"
	"github.com/cjm-dev/journey-operator/internal/cmd/quarantine"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := quarantine.Run(context.Background(), args, &out)
	return out.String(), err
}

func TestListAndShow(t *testing.T) {
	for _, b := range cmdtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			cmdtest.Fill(t, dsn)
			out, err := run(t, "list", "--store", dsn)
			if err != nil || strings.Count(out, "media/billing-stripe") != 3 || !strings.Contains(out, "-5.25 usd") ||
				!strings.Contains(out, "line 7: not valid JSON") {
				t.Fatalf("list: %v\n%s", err, out)
			}
			out, err = run(t, "list", "--store", dsn, "--check", "amount-non-negative", "--output", "json")
			var records []quarantine.Record
			if err != nil || json.Unmarshal([]byte(out), &records) != nil || len(records) != 2 || records[0].EventID != "in_neg1" ||
				*records[0].Amount != -5.25 || !strings.Contains(string(records[0].Raw), `"in_neg1"`) || records[0].Status != "Pending" {
				t.Fatalf("list --check --output json: %v\n%s", err, out)
			}
			for _, c := range []struct {
				args []string
				want int
			}{
				{[]string{"--status", "Released"}, 0},
				{[]string{"--check", "decode"}, 1},
				{[]string{"--from", "2026-11-30T09:00:30Z"}, 2},
				{[]string{"--to", "2026-11-30T09:00:30Z"}, 1},
				{[]string{"--run", "run-2"}, 0},
				{[]string{"--limit", "2"}, 2},
				{[]string{"--source", "media/other"}, 0},
			} {
				out, err := run(t, append([]string{"list", "--store", dsn, "--output", "json"}, c.args...)...)
				var got []quarantine.Record
				if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got) != c.want {
					t.Errorf("list %v: %d records (%v), want %d\n%s", c.args, len(got), err, c.want, out)
				}
			}
			out, err = run(t, "show", "--store", dsn, "3")
			if err != nil || !strings.Contains(out, "Checks:  decode") || !strings.Contains(out, "cannot be released, only discarded") ||
				!strings.Contains(out, `"{\"id\":"`) {
				t.Fatalf("show 3: %v\n%s", err, out)
			}
			out, err = run(t, "show", "--store", dsn, "1")
			if err != nil || !strings.Contains(out, "Event:   in_neg1 (user cus_in_neg1, invoice.paid), amount -5.25 usd") {
				t.Fatalf("show 1: %v\n%s", err, out)
			}
			if _, err := run(t, "show", "--store", dsn, "99"); err == nil || !strings.Contains(err.Error(), "no quarantined record 99") {
				t.Fatalf("show 99: %v", err)
			}
		})
	}
}

func TestRefusesBadFlags(t *testing.T) {
	t.Setenv("JOURNEY_STORE_DSN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--store", "sqlite://:memory:", "--status", "Approved"}, `--status "Approved": want Pending, Released or Discarded`},
		{[]string{"list", "--store", "sqlite://:memory:", "--source", "billing"}, `name it as namespace/name`},
		{[]string{"list", "--store", "sqlite://:memory:", "--output", "yaml"}, `--output "yaml": want table or json`},
		{[]string{"list", "--store", "sqlite://:memory:", "--limit", "-1"}, `--limit -1`},
		{[]string{"list", "--store", "sqlite://:memory:", "--from", "monday"}, `--from "monday"`},
		{[]string{"list"}, "no store"},
		{[]string{"show", "--store", "sqlite://:memory:", "abc"}, `record ID "abc": want a positive number`},
		{[]string{"show", "--store", "sqlite://:memory:"}, "name one record by its ID"},
		{[]string{"release"}, `unknown subcommand "release"`},
	} {
		if _, err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
