package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/cjm-dev/journey-operator/internal/cmd/audit"
	"github.com/cjm-dev/journey-operator/internal/store"
)

func TestVerifyFindsTheTamperedEntry(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.db")
	st, err := store.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	for i, accepted := range []int64{10, 20, 30} {
		if _, err := st.Commit(ctx, store.Batch{Source: "media/billing", Ledger: &store.LedgerEntry{
			Source: "media/billing", RunID: "run", At: time.Date(2026, 11, 23, i, 0, 0, 0, time.UTC), Accepted: accepted, AmountRead: "1.00", AmountLoaded: "1.00"}}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	var out bytes.Buffer
	if err := audit.Run(ctx, []string{"verify", "--store", "sqlite://" + path}, &out); err != nil || !strings.Contains(out.String(), "3 entries") {
		t.Fatalf("intact ledger: %v, %q", err, out.String())
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE ledger SET accepted = 21 WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out.Reset()
	err = audit.Run(ctx, []string{"verify", "--store", "sqlite://" + path}, &out)
	if !errors.Is(err, audit.ErrBroken) || !strings.Contains(out.String(), "entry 2") {
		t.Errorf("tampered ledger: %v, %q", err, out.String())
	}
}
