package evaluator

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

// OwnedStatusFields are the status fields the evaluator applies; the
// controller owns the rest (conditions, observedGeneration, workload, ...).
var OwnedStatusFields = []string{"lastEvaluationTime", "users", "stages", "conversions", "firingAlerts", "alerts", "feedback", "prediction", "kpis"}

// KubeStatus applies the evaluator's status fields to one JourneyMap. It
// writes only when the counts changed, so a quiet journey costs no writes;
// lastEvaluationTime is then the evaluation that produced the counts shown.
type KubeStatus struct {
	Client          client.Client
	Namespace, Name string

	mu   sync.Mutex
	last *v1alpha1.JourneyMapStatus
}

// Apply writes the snapshot's counts if they changed.
func (k *KubeStatus) Apply(ctx context.Context, s journey.Snapshot) error {
	st := Status(s)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last != nil && sameCounts(*k.last, st) {
		return nil
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		return err
	}
	owned := map[string]any{}
	for _, f := range OwnedStatusFields {
		if v, ok := raw[f]; ok {
			owned[f] = v
		}
	}
	// Fields that are empty now are still stated, so the apply clears them.
	for _, f := range []string{"users", "firingAlerts"} {
		if _, ok := owned[f]; !ok {
			owned[f] = int64(0)
		}
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": owned}}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("JourneyMap"))
	u.SetNamespace(k.Namespace)
	u.SetName(k.Name)
	if err := k.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return err
	}
	k.last = &st
	return nil
}

func sameCounts(a, b v1alpha1.JourneyMapStatus) bool {
	a.LastEvaluationTime, b.LastEvaluationTime = nil, nil
	return equality.Semantic.DeepEqual(a, b)
}

func metaTime(t time.Time) metav1.Time { return metav1.NewTime(t.UTC().Truncate(time.Second)) }
