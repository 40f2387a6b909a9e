// Package consume is `journey consume`: the Kafka consumer of one stream
// source, from the controller's rendered configuration (--config) or from
// a folder of manifests (-f DIR --source NAME) for local use. It serves
// /metrics, /healthz and /readyz beside it.
package consume

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/cjm-dev/journey-operator/internal/cmd/cmdflag"
	"github.com/cjm-dev/journey-operator/internal/cmd/httpserver"
	"github.com/cjm-dev/journey-operator/internal/consumer"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Run parses args and consumes until ctx is done.
func Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve /metrics and the probes on")
	source := cmdflag.NewSourceFlags(fs, "stream")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sv, err := source.Open(ctx, func(cfg runconfig.Source) error {
		if cfg.Spec.Stream == nil || cfg.Spec.Stream.Kafka == nil {
			return fmt.Errorf("source %s/%s has no spec.stream.kafka: `journey consume` runs stream sources only", cfg.Namespace, cfg.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer sv.Store.Close()
	st, ok := sv.Store.(store.StreamStore)
	if !ok {
		return fmt.Errorf("the store %T cannot keep stream offsets", sv.Store)
	}
	cfg := sv.Source
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c, err := consumer.New(consumer.Options{Source: cfg, Hash: sv.Hash, Pipeline: sv.Pipeline, Store: st, Secrets: sv.Secrets,
		Registerer: reg, Log: log, Now: time.Now})
	if err != nil {
		return err
	}
	defer c.Close()
	k := cfg.Spec.Stream.Kafka
	log.Info("consuming", "source", cfg.Namespace+"/"+cfg.Name, "topics", k.Topics, "group", k.ConsumerGroup, "listen", *listen)
	srv := &http.Server{Addr: *listen, Handler: c.Handler(reg), ReadHeaderTimeout: 10 * time.Second}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpserver.Until(ctx, srv) })
	g.Go(func() error { return c.Run(ctx) })
	return g.Wait()
}
