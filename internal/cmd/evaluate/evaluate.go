// Package evaluate is `journey evaluate`: the evaluator of one JourneyMap,
// as its Deployment runs it (see internal/evaluator).
package evaluate

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cjm-dev/journey-operator/internal/cmd/httpserver"
	"github.com/cjm-dev/journey-operator/internal/cmd/manager"
	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Run parses args and evaluates until ctx is done.
func Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	config := fs.String("config", runconfig.Path(), "the map's run configuration (config.json)")
	listen := fs.String("listen", ":8080", "address of the journey map page, /metrics and the probes")
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv)
	noStatus := fs.Bool("no-status", false, "do not write the JourneyMap's status (no cluster)")
	var shard journey.Shard
	fs.IntVar(&shard.Index, "shard", 0, "the shard this evaluator evaluates, from 0 (with --shards)")
	fs.IntVar(&shard.Count, "shards", 1, "how many evaluators share the map's users (spec.evaluation.shards)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := shard.Validate(); err != nil {
		return fmt.Errorf("--shard and --shards: %w", err)
	}
	log := zap.New()
	raw, err := os.ReadFile(*config)
	if err != nil {
		return fmt.Errorf("reading the run configuration: %w", err)
	}
	var cfg runconfig.Journey
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %w", *config, err)
	}
	if *dsn == "" {
		return fmt.Errorf("no store: pass --store or set %s", runconfig.StoreDSNEnv)
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	var status evaluator.StatusWriter
	if !*noStatus {
		restCfg, err := ctrl.GetConfig()
		if err != nil {
			return fmt.Errorf("no cluster to write status to (pass --no-status to run without): %w", err)
		}
		scheme, err := manager.NewScheme()
		if err != nil {
			return err
		}
		c, err := client.New(restCfg, client.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		status = &evaluator.KubeStatus{Client: c, Namespace: cfg.Namespace, Name: cfg.Name}
	}
	env, err := expr.NewEnv()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ev, err := evaluator.New(env, cfg, st, status, reg, time.Now, log, evaluator.Options{Secrets: local.MountedSecrets{Dir: runconfig.SecretsDir}, Shard: shard})
	if err != nil {
		return err
	}
	interval := 5 * time.Minute
	if cfg.Spec.EvaluationInterval != nil {
		interval = cfg.Spec.EvaluationInterval.Duration
	}
	srv := &http.Server{Addr: *listen, Handler: ev.Handler(reg), ReadHeaderTimeout: 10 * time.Second}
	go ev.Run(ctx, interval)
	log.Info("evaluating", "journey", cfg.Namespace+"/"+cfg.Name, "shard", shard.String(), "interval", interval.String(), "listen", *listen)
	return httpserver.Until(ctx, srv)
}
