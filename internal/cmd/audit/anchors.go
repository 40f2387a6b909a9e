package audit

import (
	"context"
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Anchor is a ledger hash an object in the cluster recorded.
type Anchor struct {
	Hash   string
	Object string // e.g. TouchpointSource media/billing-stripe run run-...
}

// ClusterAnchors reads the ledger hashes the cluster's TouchpointSources
// (their last and recent runs) and QuarantineReviews recorded: the API
// server keeps them out of reach of whoever can write the store.
func ClusterAnchors(ctx context.Context, kubeconfig, namespace string) ([]Anchor, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	var opts []client.ListOption
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	var sources v1alpha1.TouchpointSourceList
	if err := c.List(ctx, &sources, opts...); err != nil {
		return nil, fmt.Errorf("listing TouchpointSources: %w", err)
	}
	seen := map[string]bool{}
	var out []Anchor
	add := func(hash, object string) {
		if hash != "" && !seen[hash] {
			seen[hash] = true
			out = append(out, Anchor{Hash: hash, Object: object})
		}
	}
	for _, s := range sources.Items {
		runs := s.Status.RecentRuns
		if s.Status.LastRun != nil {
			runs = append(runs, *s.Status.LastRun)
		}
		for _, r := range runs {
			add(r.LedgerHash, fmt.Sprintf("TouchpointSource %s/%s run %s", s.Namespace, s.Name, r.ID))
		}
	}
	var reviews v1alpha1.QuarantineReviewList
	if err := c.List(ctx, &reviews, opts...); err != nil {
		return nil, fmt.Errorf("listing QuarantineReviews: %w", err)
	}
	for _, r := range reviews.Items {
		add(r.Status.LedgerHash, fmt.Sprintf("QuarantineReview %s/%s", r.Namespace, r.Name))
	}
	return out, nil
}
