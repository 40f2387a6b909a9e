// Package manager runs the operator: a controller-runtime manager with
// metrics, health probes and leader election. Controllers register here.
package manager

import (
	"context"
	"flag"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	journeyv1alpha1 "github.com/cjm-dev/journey-operator/api/v1alpha1"
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
}

// NewScheme returns the scheme holding the built-in kinds the operator uses
// and the journey kinds.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := journeyv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Run parses args and runs the manager until ctx is done.
func Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	var o Options
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty: in-cluster configuration or $KUBECONFIG")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "address the Prometheus metrics endpoint binds to; 0 disables it")
	fs.StringVar(&o.HealthProbeAddress, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probes bind to")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles at a time")
	fs.StringVar(&o.LeaderElectNamespace, "leader-election-namespace", "", "namespace of the leader election Lease; empty: the pod's namespace")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	cfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return err
	}
	scheme, err := NewScheme()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:  o.HealthProbeAddress,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectNamespace,
		// Step down promptly on SIGTERM so a rolling update does not wait out
		// the lease.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("manager").Info("starting", "leaderElect", o.LeaderElect)
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
	return cfg, nil
}
