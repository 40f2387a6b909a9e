// Package receive is `journey receive`: the webhook receiver of one source,
// from the controller's rendered configuration (--config) or from a folder of
// manifests (-f DIR --source NAME) for local use.
package receive

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/cmdflag"
	"github.com/cjm-dev/journey-operator/internal/cmd/httpserver"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/receiver"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Run parses args and serves until ctx is done.
func Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve on")
	config := fs.String("config", "", "the source's run configuration (config.json), as the controller renders it")
	dir := fs.String("f", "", "folder of manifests (instead of --config)")
	name := fs.String("source", "", "with -f: the webhook TouchpointSource to serve")
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv)
	secretsDir := fs.String("secrets-dir", runconfig.SecretsDir, "with --config: where referenced Secrets are mounted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, secrets, err := cmdflag.Source(*config, *dir, *name, *secretsDir)
	if err != nil {
		return err
	}
	if *dsn == "" {
		return fmt.Errorf("no store: pass --store or set %s", runconfig.StoreDSNEnv)
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	env, err := expr.NewEnv()
	if err != nil {
		return err
	}
	p, err := pipeline.New(env, cfg)
	if err != nil {
		return err
	}
	_, hash, err := runconfig.Encode(cfg)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	r, err := receiver.New(cfg, hash, p, st, secrets, time.Now, log)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	protocol := cfg.Spec.Webhook.Protocol
	if protocol == "" {
		protocol = v1alpha1.WebhookProtocolJSON
	}
	log.Info("receiving", "source", cfg.Namespace+"/"+cfg.Name, "path", cfg.Spec.Webhook.Path, "protocol", protocol, "listen", *listen)
	return httpserver.Until(ctx, srv)
}
