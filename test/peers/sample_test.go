package peers_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/run"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/sampledata"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// sample is the sample data of `make demo`, generated to end now (so that
// the alerts the evaluator sends are current for Alertmanager and
// Prometheus, whose clocks are real) and ingested as `journey run` does.
type sample struct {
	dir      string
	manifest *sampledata.Manifest
	asOf     time.Time
	folder   *local.Folder
	journey  v1alpha1.JourneyMap
	sources  []v1alpha1.TouchpointSource // the ones the map selects
	store    store.Store
	// runs are the ingest runs' summaries by source name.
	runs map[string]ingest.Summary
}

func newSample(t *testing.T) *sample {
	t.Helper()
	ctx := context.Background()
	cfg := sampledata.DefaultConfig()
	asOf := time.Now().UTC().Truncate(time.Second)
	cfg.Start = asOf.Add(-time.Duration(cfg.Days) * 24 * time.Hour)
	dir := t.TempDir()
	m, err := sampledata.Generate(ctx, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	folder, err := local.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "journey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &sample{dir: dir, manifest: m, asOf: cfg.AsOf(), folder: folder, journey: folder.Maps[0], store: st, runs: map[string]ingest.Summary{}}
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	// Each source once, as `journey run` (and each CronJob's pod) runs it,
	// judged as of the data's end.
	for _, src := range run.Order(folder) {
		rc := render.SourceConfig(&src.TouchpointSource, runconfig.MatchingRules(&src.TouchpointSource, folder.Rules))
		_, hash, err := runconfig.Encode(rc)
		if err != nil {
			t.Fatal(err)
		}
		sum, _ := ingest.Run(ctx, rc, hash, ingest.Options{Store: st, Expr: env, BaseDir: src.Dir, AsOf: s.judgeAt,
			Secrets: local.Secrets{Folder: folder, Namespace: src.Namespace}})
		if sum.Outcome == "" || sum.Outcome == v1alpha1.RunFailed {
			t.Fatalf("ingesting %s: %+v", src.Name, sum)
		}
		s.runs[src.Name] = sum
	}
	srcs, err := folder.MapSources(s.journey)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range srcs {
		s.sources = append(s.sources, src.TouchpointSource)
	}
	return s
}

func (s *sample) judgeAt() time.Time { return s.asOf }

// clock is the evaluator's: real time, moved ahead by the test to make a
// resend due without waiting the minute it takes.
type clock struct {
	mu    sync.Mutex
	ahead time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.ahead)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.ahead += d
	c.mu.Unlock()
}
