package review_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/cmd/cmdtest"
	"github.com/cjm-dev/journey-operator/internal/cmd/review"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := review.Run(context.Background(), append(args, "--termination-log", "/nonexistent"), &out)
	return out.String(), err
}

func TestLocalReview(t *testing.T) {
	for _, b := range cmdtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			cmdtest.Fill(t, dsn)
			discard := []string{"--store", dsn, "--source", cmdtest.Billing, "--check", "decode", "--decision", "Discard",
				"--reason", "truncated export line; the record was re-sent whole", "--as", "dave@example.com", "--output", "json"}
			out, err := run(t, discard...)
			var rep runconfig.ReviewReport
			if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Discarded != 1 || rep.Matched != 1 || rep.Repeated ||
				rep.SourceQuarantine.Pending != 2 || rep.Reviewer != "dave@example.com" {
				t.Fatalf("discard: %v\n%s", err, out)
			}
			// The same command again changes nothing: its ID is derived from it.
			out, err = run(t, discard...)
			var again runconfig.ReviewReport
			if err != nil || json.Unmarshal([]byte(out), &again) != nil || !again.Repeated || again.LedgerHash != rep.LedgerHash {
				t.Fatalf("the same review again: %v\n%s", err, out)
			}
			out, err = run(t, "--store", dsn, "--source", cmdtest.Billing, "--event-id", "in_neg1", "--event-id", "in_neg2", "--decision", "Release",
				"--reason", "credit notes confirmed with AR (FIN-231)", "--as", "carol@example.com")
			if err != nil || !strings.Contains(out, "released 2") || !strings.Contains(out, "amount released: -9.25 usd") ||
				!strings.Contains(out, "the source still holds 0 records") {
				t.Fatalf("release: %v\n%s", err, out)
			}
			st, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			entries, _ := st.LedgerEntries(context.Background(), store.LedgerFilter{Kinds: []store.EntryKind{store.EntryReview}})
			if len(entries) != 2 || !strings.Contains(entries[0].Detail, `"identified":"self-declared"`) || entries[1].Actor != "carol@example.com" {
				t.Fatalf("review entries: %+v", entries)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Setenv("JOURNEY_STORE_DSN", "")
	dsn := "sqlite://" + t.TempDir() + "/j.db"
	ok := []string{"--store", dsn, "--source", "media/billing", "--check", "c", "--decision", "Release", "--reason", "checked with AR", "--as", "carol"}
	with := func(flag, v string) []string {
		out := append([]string{}, ok...)
		for i := range out {
			if out[i] == flag {
				out[i+1] = v
			}
		}
		return out
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{with("--decision", "Approve"), `--decision "Approve": want Release or Discard`},
		{with("--as", ""), "--as is required"},
		{with("--source", "billing"), `name it as namespace/name`},
		{with("--reason", "ok"), "shorter than 10 characters"},
		{[]string{"--store", dsn, "--source", "media/billing", "--decision", "Release", "--reason", "checked with AR", "--as", "carol"}, "selection is empty"},
		{with("--store", ""), "no store"},
		{[]string{"--config", "/nonexistent/config.json"}, "reading the review's configuration"},
		{[]string{"--config", "x.json", "--as", "me"}, "drop --source, --decision and --as"},
	} {
		out, err := run(t, c.args...)
		if err == nil || !strings.Contains(out+err.Error(), c.want) {
			t.Errorf("%v: %v\n%s\nwant %q", c.args, err, out, c.want)
		}
		if err != nil && !errors.Is(err, review.ErrReviewFailed) && !strings.Contains(err.Error(), "drop --source") {
			t.Errorf("%v: %v is not ErrReviewFailed", c.args, err)
		}
	}
}
