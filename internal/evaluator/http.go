package evaluator

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cjm-dev/journey-operator/internal/dashboard"
)

// Handler serves /metrics, the probes (/readyz once an evaluation has
// finished) and, when the map's dashboard is enabled, the interactive
// journey map page at / beside the drill-down API it asks under /api/v1/.
func (e *Evaluator) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if e.Last().EvaluatedAt.IsZero() {
			http.Error(w, "no evaluation has finished yet", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	if d := e.cfg.Spec.Dashboard; d == nil || d.Enabled {
		mux.Handle("/", dashboard.LiveHandler(dashboard.LiveOptions{Snapshot: e.pageSnapshot, Segments: e.cfg.Spec.Segments}))
		if e.drill != nil {
			mux.Handle("/api/", e.DrillHandler())
		} else {
			mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotImplemented)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": errNoDrill.Error()})
			})
		}
	}
	return mux
}

// errNoDrill: a sharded evaluation has no drill-down (see newDrill).
var errNoDrill = errors.New("a sharded evaluation (spec.evaluation.shards above 1) serves the journey, not its drill-down: no evaluator holds every user")
