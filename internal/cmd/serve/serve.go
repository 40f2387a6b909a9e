// Package serve is `journey serve -f DIR`: the interactive journey map of a
// folder's JourneyMap on a local store, with no cluster. It evaluates the
// map over what `journey run` ingested, serves the page at / and the
// drill-down API under /api/v1/, and evaluates again when the store has
// new events.
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/httpserver"
	"github.com/cjm-dev/journey-operator/internal/cmd/run"
	"github.com/cjm-dev/journey-operator/internal/dashboard"
	"github.com/cjm-dev/journey-operator/internal/drill"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/predict"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Options are what `journey serve` serves.
type Options struct {
	Folder *local.Folder
	Map    v1alpha1.JourneyMap
	Store  store.Store
	// AsOf is the evaluation's clock (nil: now), to replay a dataset.
	AsOf func() time.Time
}

// Server is one map's journey, evaluated, behind the page and the API.
type Server struct {
	o     Options
	env   *expr.Env
	index atomic.Pointer[drill.Index]
	seq   int64
}

// New evaluates the map once.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.AsOf == nil {
		o.AsOf = time.Now
	}
	env, err := expr.NewEnv()
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, env: env}
	if err := s.evaluate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// evaluate evaluates the map and publishes a fresh index.
func (s *Server) evaluate(ctx context.Context) error {
	m := s.o.Map
	seq, err := s.latestSeq(ctx)
	if err != nil {
		return err
	}
	ev, err := run.EvaluateMapExplained(ctx, s.o.Store, s.env, s.o.Folder, m, s.o.AsOf(), topFactors)
	if err != nil {
		return fmt.Errorf("JourneyMap %s/%s: %w", m.Namespace, m.Name, err)
	}
	states := make([]journey.SourceState, 0, len(ev.Sources))
	sources := make([]drill.Source, 0, len(ev.Sources))
	for _, src := range ev.Sources {
		states = append(states, journey.SourceState{Name: src.Name, Touchpoint: src.Spec.Touchpoint, System: src.Spec.System, Financial: src.Spec.Financial})
		sources = append(sources, drill.Source{Name: src.Namespace + "/" + src.Name, Touchpoint: src.Spec.Touchpoint, Financial: src.Spec.Financial})
	}
	if ev.Snapshot.Sources, err = journey.ReadSourceStates(ctx, s.o.Store, m.Namespace, states); err != nil {
		return fmt.Errorf("reading the sources' runs: %w", err)
	}
	x := drill.New(ev.Engine, s.o.Store, sources, m.Spec.Segments)
	if err := x.Refresh(ctx, nil); err != nil {
		return err
	}
	x.SetState(ev.Users, ev.Snapshot, ev.Risks)
	x.SetFactors(drillFactors(ev.Factors))
	s.index.Store(x)
	s.seq = seq
	return nil
}

// topFactors is how many of a user's risk factors the API shows.
const topFactors = 3

// drillFactors keeps the factors that push each user's risk up.
func drillFactors(in map[string][]predict.Factor) map[string][]drill.Factor {
	out := make(map[string][]drill.Factor, len(in))
	for u, fs := range in {
		for _, f := range fs {
			if f.Push > 0 {
				out[u] = append(out[u], drill.Factor{Feature: f.Feature, Value: f.Value, Push: f.Push})
			}
		}
	}
	return out
}

func (s *Server) latestSeq(ctx context.Context) (int64, error) {
	srcs, err := s.o.Folder.MapSources(s.o.Map)
	if err != nil {
		return 0, err
	}
	ids := make([]string, len(srcs))
	for i, src := range srcs {
		ids[i] = src.Namespace + "/" + src.Name
	}
	return s.o.Store.LatestSeq(ctx, ids)
}

// Refresh evaluates the map again if its sources have new events.
func (s *Server) Refresh(ctx context.Context) error {
	seq, err := s.latestSeq(ctx)
	if err != nil || seq == s.seq {
		return err
	}
	return s.evaluate(ctx)
}

// Index is the current evaluation's drill-down.
func (s *Server) Index() *drill.Index { return s.index.Load() }

// Handler serves the interactive page at / (its scripts under /js/) and
// the API under /api/v1/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.index.Load().Handler().ServeHTTP(w, r)
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Handle("/", dashboard.LiveHandler(dashboard.LiveOptions{Snapshot: s.pageSnapshot, Segments: s.o.Map.Spec.Segments}))
	return mux
}

// pageSnapshot is the journey of the users the page's segment filters keep.
func (s *Server) pageSnapshot(filters url.Values) (journey.Snapshot, error) {
	x := s.index.Load()
	f, err := x.ParseFilters(filters)
	if err != nil {
		return journey.Snapshot{}, err
	}
	return x.Snapshot(f)
}

// Run parses args and serves until ctx is done.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dir := fs.String("f", "", "folder of journey manifests (required): the JourneyMap and its sources")
	dsn := fs.String("store", "", "store DSN; default: sqlite:///<working folder>/journey.db, as journey run writes")
	mapName := fs.String("map", "", "the JourneyMap, as name or namespace/name; needed when the folder has several")
	asOf := fs.String("as-of", "", "evaluate as of this RFC 3339 time instead of now (to replay a dataset)")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve the page and the API on")
	every := fs.Duration("refresh", time.Minute, "how often to look for new events and evaluate again; 0: never")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-f DIR is required: the folder with the JourneyMap and its sources")
	}
	if *every < 0 {
		return fmt.Errorf("--refresh %s: want 0 or more", *every)
	}
	clock := time.Now
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339, *asOf)
		if err != nil {
			return fmt.Errorf("--as-of %q: want an RFC 3339 time such as 2026-10-31T00:00:00Z", *asOf)
		}
		clock = func() time.Time { return t }
	}
	folder, err := local.Load(*dir)
	if err != nil {
		return err
	}
	m, err := folder.Map(*mapName)
	if err != nil {
		return err
	}
	if *dsn == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		*dsn = "sqlite://" + filepath.Join(wd, "journey.db")
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := New(ctx, Options{Folder: folder, Map: m, Store: st, AsOf: clock})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	snap, _ := srv.Index().Snapshot(nil)
	fmt.Fprintf(stdout, "journey serve: the journey map of %s/%s (%d users, as of %s) at http://%s/, its API at http://%s/api/v1/journey\n",
		m.Namespace, m.Name, snap.Users, snap.EvaluatedAt.UTC().Format(time.RFC3339), ln.Addr(), ln.Addr())
	if *every > 0 {
		go func() {
			t := time.NewTicker(*every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := srv.Refresh(ctx); err != nil {
						fmt.Fprintf(os.Stderr, "journey serve: evaluating again: %v\n", err)
					}
				}
			}
		}()
	}
	return httpserver.Serve(ctx, &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}, ln)
}
