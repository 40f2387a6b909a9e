package evaluator_test

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/run"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/sampledata"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// sample is the default sample data, ingested as `journey run` would.
type sample struct {
	manifest *sampledata.Manifest
	asOf     time.Time
	journey  v1alpha1.JourneyMap
	sources  []v1alpha1.TouchpointSource // the ones the map selects
	store    store.Store
}

func newSample(t *testing.T) *sample {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	m, err := sampledata.Generate(ctx, dir, sampledata.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "journey.db")
	if err := run.Run(ctx, []string{"-f", dir, "--store", dsn, "--as-of", m.Config.AsOf, "--html", ""}, io.Discard); err != nil {
		t.Fatal(err)
	}
	folder, err := local.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &sample{manifest: m, journey: folder.Maps[0]}
	sel, err := metav1.LabelSelectorAsSelector(&s.journey.Spec.SourceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range folder.Sources {
		if sel.Matches(labels.Set(src.Labels)) {
			s.sources = append(s.sources, src.TouchpointSource)
		}
	}
	if s.asOf, err = time.Parse(time.RFC3339, m.Config.AsOf); err != nil {
		t.Fatal(err)
	}
	if s.store, err = store.Open(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.Close() })
	return s
}
