// Package manager runs the operator: a controller-runtime manager with
// metrics, health probes, leader election and the admission webhooks.
// Controllers and webhooks register here.
package manager

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/controllers"
	"github.com/cjm-dev/journey-operator/internal/admission"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/webhookcert"
)

// LeaderElectionID names the Lease the managers of one installation share.
const LeaderElectionID = "journey-operator.journey.cjm.dev"

// Options are the manager's flags.
type Options struct {
	Kubeconfig           string
	MetricsBindAddress   string
	HealthProbeAddress   string
	LeaderElect          bool
	LeaderElectNamespace string
	WatchNamespaces      string
	Image                string
	ImagePullPolicy      string
	StoreSecretName      string
	StoreSecretKey       string
	SecretRetry          time.Duration
	Workers              int
	// EvaluatorMemory and EvaluatorScratch: see render.Options.
	EvaluatorMemory, EvaluatorScratch resource.Quantity

	// EnableWebhooks serves the admission webhooks (editor stamps,
	// QuarantineReview requester and four-eyes check). The flag defaults to
	// true; the zero value (false) lets tests of the controllers alone start
	// a manager without a webhook server.
	EnableWebhooks bool
	// Webhook: see WebhookOptions.
	Webhook WebhookOptions
	// Metrics: see MetricsOptions.
	Metrics MetricsOptions
	// GitOpsIdentities: usernames whose journey.cjm.dev/change-author
	// annotation names the editor (admission.Options).
	GitOpsIdentities []string
}

// DefaultImage runs the workloads when --image is not given.
const DefaultImage = "ghcr.io/cjm-dev/journey-operator:v0.1.0"

// Deps builds the reconcilers' dependencies from the options.
func (o Options) Deps(mgr ctrl.Manager) (controllers.Deps, error) {
	env, err := expr.NewEnv()
	if err != nil {
		return controllers.Deps{}, err
	}
	m, err := controllers.NewMetrics(metrics.Registry)
	if err != nil {
		return controllers.Deps{}, err
	}
	return controllers.Deps{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(FieldOwnerName),
		Expr:      env,
		Render: render.Options{
			Image:            o.Image,
			ImagePullPolicy:  corev1.PullPolicy(o.ImagePullPolicy),
			StoreSecret:      v1alpha1.SecretKeyRef{Name: o.StoreSecretName, Key: o.StoreSecretKey},
			EvaluatorMemory:  o.EvaluatorMemory,
			EvaluatorScratch: o.EvaluatorScratch,
		},
		SecretRetry: o.SecretRetry,
		Announced:   &controllers.Announcer{},
		Compiled:    &controllers.CompileCache{},
		Metrics:     m,
	}, nil
}

// NewManager builds the manager `journey manager` runs: the options'
// caches, the controllers, the probes and, with EnableWebhooks, the
// admission webhooks and their certificates. Tests start the operator with
// it exactly as production does.
func (o Options) NewManager(cfg *rest.Config) (ctrl.Manager, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	opts := o.ManagerOptions(scheme)
	var rotator *webhookcert.Rotator
	if o.EnableWebhooks {
		if rotator, err = o.Webhook.rotator(); err != nil {
			return nil, err
		}
		opts.WebhookServer = o.Webhook.server(rotator)
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := SetupControllers(mgr, o); err != nil {
		return nil, err
	}
	// Each source's last run, schedule and readiness, each map's interval:
	// what the shipped alerting rules and dashboards read.
	if err := controllers.RegisterStateMetrics(metrics.Registry, mgr.GetClient(), mgr.Elected(), ctrl.Log.WithName("metrics")); err != nil {
		return nil, fmt.Errorf("registering the journey state metrics: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	ready := healthz.Ping
	if o.EnableWebhooks {
		admission.Setup(mgr, admission.Options{GitOpsIdentities: o.GitOpsIdentities})
		if rotator != nil {
			if err := rotator.SetupWithManager(mgr); err != nil {
				return nil, err
			}
		}
		// Ready once the webhook server answers TLS: with self-managed
		// certificates, once the first one is loaded.
		ready = mgr.GetWebhookServer().StartedChecker()
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		return nil, err
	}
	return mgr, nil
}

// SetupControllers registers the reconcilers with mgr.
func SetupControllers(mgr ctrl.Manager, o Options) error {
	deps, err := o.Deps(mgr)
	if err != nil {
		return err
	}
	if err := controllers.Setup(mgr, deps, o.Workers); err != nil {
		return fmt.Errorf("setting up controllers: %w", err)
	}
	return nil
}

// FieldOwnerName is the name the operator writes and records Events under.
const FieldOwnerName = controllers.FieldOwner

// ManagerOptions are the controller-runtime options for o: label-filtered
// caches, Secrets never cached, and the watched namespaces.
func (o Options) ManagerOptions(scheme *runtime.Scheme) ctrl.Options {
	opts := ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 o.Metrics.server(o.MetricsBindAddress),
		HealthProbeBindAddress:  o.HealthProbeAddress,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectNamespace,
		// Step down promptly on SIGTERM so a rolling update does not wait out
		// the lease.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cache.Options{ByObject: controllers.CacheByObject()},
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: controllers.UncachedObjects()}},
	}
	if ns := splitList(o.WatchNamespaces); len(ns) > 0 {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range ns {
			opts.Cache.DefaultNamespaces[n] = cache.Config{}
		}
	}
	return opts
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// NewScheme returns the scheme holding the built-in kinds the operator uses
// and the journey kinds.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Run parses args and runs the manager until ctx is done.
func Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	var o Options
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty: in-cluster configuration or $KUBECONFIG")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8443", "address the Prometheus metrics endpoint binds to (HTTPS; "+
		"e.g. :8080 with --metrics-secure=false); 0 disables it")
	o.Metrics.bindFlags(fs)
	fs.StringVar(&o.HealthProbeAddress, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probes bind to")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles at a time")
	fs.StringVar(&o.LeaderElectNamespace, "leader-election-namespace", "", "namespace of the leader election Lease; empty: the pod's namespace")
	fs.StringVar(&o.WatchNamespaces, "watch-namespaces", "", "comma-separated namespaces to reconcile; empty: all namespaces")
	fs.StringVar(&o.Image, "image", DefaultImage, "image of the ingest, receiver and evaluator workloads (the operator's own image)")
	fs.StringVar(&o.ImagePullPolicy, "image-pull-policy", string(corev1.PullIfNotPresent), "pull policy of the workloads' containers")
	fs.StringVar(&o.StoreSecretName, "store-secret-name", "journey-store", "Secret (in each resource's namespace) holding the default store DSN")
	fs.StringVar(&o.StoreSecretKey, "store-secret-key", "dsn", "key of the store DSN in that Secret")
	fs.DurationVar(&o.SecretRetry, "secret-retry", 30*time.Second, "how soon a resource missing a Secret looks again")
	fs.IntVar(&o.Workers, "workers", 4, "concurrent reconciles per kind")
	fs.Func("evaluator-memory", "memory request and limit of each JourneyMap's evaluator, e.g. 2Gi (default: request 128Mi, limit 512Mi); "+
		"an evaluator holds every user's state: a million users take about 300 MiB, 2Gi with the page's drill-down", quantityFlag(&o.EvaluatorMemory))
	fs.Func("evaluator-scratch", "size of each JourneyMap evaluator's /tmp (default 4Gi), where a full evaluation puts the events it has read "+
		"until their users' turn: about 40 bytes per event", quantityFlag(&o.EvaluatorScratch))
	fs.BoolVar(&o.EnableWebhooks, "enable-webhooks", true, "serve the admission webhooks (editor stamps, QuarantineReview checks); "+
		"their configurations fail closed, so writes of journey resources are refused while no manager serves them")
	fs.Func("gitops-identities", "comma-separated usernames (e.g. system:serviceaccount:argocd:argocd-application-controller) "+
		"whose journey.cjm.dev/change-author annotation is recorded as the editor", func(v string) error {
		o.GitOpsIdentities = splitList(v)
		return nil
	})
	o.Webhook.bindFlags(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := o.Metrics.validate(); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	cfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return err
	}
	mgr, err := o.NewManager(cfg)
	if err != nil {
		return err
	}
	ctrl.Log.WithName("manager").Info("starting", "leaderElect", o.LeaderElect, "webhooks", o.EnableWebhooks)
	return mgr.Start(ctx)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return ctrl.GetConfig()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
	}
	// As ctrl.GetConfig does: no client-side throttling (client-go's default
	// is 5 requests/s); the API server's priority and fairness limits us.
	if cfg.QPS == 0 {
		cfg.QPS = -1
	}
	return cfg, nil
}

// quantityFlag parses a positive Kubernetes quantity into q.
func quantityFlag(q *resource.Quantity) func(string) error {
	return func(v string) error {
		p, err := resource.ParseQuantity(v)
		if err == nil && p.Sign() <= 0 {
			err = errors.New("must be more than 0")
		}
		if err != nil {
			return fmt.Errorf("a quantity such as 2Gi: %w", err)
		}
		*q = p
		return nil
	}
}
