package controllers

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cjm-dev/journey-operator/internal/render"
)

// CacheByObject limits the informer caches of owned kinds to objects the
// operator manages, so memory grows with journey resources, not with the
// cluster. Secrets are never cached (see client options in the manager).
func CacheByObject() map[client.Object]cache.ByObject {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{render.LabelManagedBy: render.ManagedBy})}
	return map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}:             managed,
		&corev1.ServiceAccount{}:        managed,
		&corev1.Service{}:               managed,
		&corev1.Pod{}:                   managed,
		&appsv1.Deployment{}:            managed,
		&batchv1.CronJob{}:              managed,
		&batchv1.Job{}:                  managed,
		&policyv1.PodDisruptionBudget{}: managed,
		&rbacv1.Role{}:                  managed,
		&rbacv1.RoleBinding{}:           managed,
	}
}

// specOrLabelsChanged filters the cross-kind watches: which rules apply to
// a source, and which sources a map reads, depend only on spec and labels,
// never on status. Without it every status write of one kind would wake
// every object of another in the namespace (N×M reconciles).
var specOrLabelsChanged = builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))

// UncachedObjects are read straight from the API server.
func UncachedObjects() []client.Object { return []client.Object{&corev1.Secret{}} }

// Setup registers the reconcilers with the manager.
func Setup(mgr ctrl.Manager, deps Deps, workers int) error {
	if err := (&TouchpointSourceReconciler{Deps: deps}).SetupWithManager(mgr, workers); err != nil {
		return err
	}
	if err := (&ValidationRuleReconciler{Deps: deps}).SetupWithManager(mgr, workers); err != nil {
		return err
	}
	if err := (&QuarantineReviewReconciler{Deps: deps}).SetupWithManager(mgr, workers); err != nil {
		return err
	}
	return (&JourneyMapReconciler{Deps: deps}).SetupWithManager(mgr, workers)
}

// allInNamespace maps an event to every object of one kind in the event's
// namespace: which rules apply to a source, and which sources a map reads,
// can change for any of them.
func allInNamespace(c client.Client, newList func() client.ObjectList) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := newList()
		if err := c.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
			log.FromContext(ctx).Error(err, "listing objects to requeue", "namespace", o.GetNamespace())
			return nil
		}
		items, err := apimeta.ExtractList(list)
		if err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(items))
		for _, it := range items {
			if m, err := apimeta.Accessor(it); err == nil {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()}})
			}
		}
		return reqs
	}
}
