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
	"github.com/cjm-dev/journey-operator/internal/receiver"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// Run parses args and serves until ctx is done.
func Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve on")
	source := cmdflag.NewSourceFlags(fs, "webhook")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sv, err := source.Open(ctx, func(cfg runconfig.Source) error {
		if cfg.Spec.Webhook == nil {
			return fmt.Errorf("source %s/%s has no spec.webhook: `journey receive` serves webhook sources only", cfg.Namespace, cfg.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer sv.Store.Close()
	cfg := sv.Source
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	r, err := receiver.New(cfg, sv.Hash, sv.Pipeline, sv.Store, sv.Secrets, time.Now, log)
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
