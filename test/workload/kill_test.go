package workload_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "modernc.org/sqlite"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// A `journey ingest` process killed (SIGKILL) in the middle of a run and
// started again neither loses nor duplicates a record.
func TestKilledIngestProcessRerunLosesNothing(t *testing.T) {
	const n = 60000
	root := t.TempDir()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"id":"evt_%06d","user":"u%d","at":"2026-11-01T00:%02d:%02dZ"}`+"\n", i, i%97, (i/60)%60, i%60)
	}
	write(t, filepath.Join(root, "events.jsonl"), b.String())
	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "playback"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "playback", Financial: true,
			Batch: &v1alpha1.BatchSource{Schedule: "@hourly", File: &v1alpha1.FileConnector{
				Path: filepath.Join(root, "events.jsonl"), Format: v1alpha1.FileFormatJSONLines}},
			Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.user", OccurredAt: "timestamp(record.at)", Type: `"playback.session"`},
		},
	}
	data, _, err := runconfig.Encode(render.SourceConfig(src, nil))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(root, "config.json")
	write(t, cfgPath, string(data))
	dbPath := filepath.Join(root, "journey.db")
	dsn := "sqlite://" + dbPath
	args := []string{"ingest", "--config", cfgPath, "--store", dsn, "--batch-size", "500", "--termination-log", filepath.Join(root, "none")}

	// Start a run and kill it once some batches, but not all, are committed.
	first := journeyCommand(args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var committed int
	deadline := time.Now().Add(60 * time.Second)
	for committed < 2000 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		_ = db.QueryRow(`SELECT count(*) FROM events`).Scan(&committed) // the table appears with the first open
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if err := db.QueryRow(`SELECT count(*) FROM events`).Scan(&committed); err != nil {
		t.Fatal(err)
	}
	if committed == 0 || committed >= n || committed%500 != 0 {
		t.Fatalf("killed with %d of %d events committed; want whole batches of 500, some but not all", committed, n)
	}

	// Start again: the rest arrives, the overlap counts as duplicates.
	out, err := journeyCommand(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	var total, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT event_id) FROM events`).Scan(&total, &distinct); err != nil {
		t.Fatal(err)
	}
	if total != n || distinct != n {
		t.Errorf("after the rerun: %d events, %d distinct; want %d and %d", total, distinct, n, n)
	}
	if !strings.Contains(string(out), fmt.Sprintf(`"accepted":%d`, n-committed)) || !strings.Contains(string(out), fmt.Sprintf(`"duplicates":%d`, committed)) {
		t.Errorf("the rerun should accept %d and count %d duplicates: %s", n-committed, committed, out)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Verify(context.Background(), store.VerifyOptions{}); err != nil {
		t.Errorf("the ledger after a kill and a rerun: %v", err)
	}
	_ = os.Remove(filepath.Join(root, "none"))
}
