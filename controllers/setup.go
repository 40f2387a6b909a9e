package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

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
		&appsv1.StatefulSet{}:           managed,
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

// userChanges filters a kind's own events: a controller acts on what users
// change (spec, labels, annotations such as requested-at), not on status
// it or an evaluator wrote, which would otherwise wake it once more per
// write. Creates and deletes always pass; owned objects and pods still
// wake it as they change.
var userChanges = builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))

// ownedChanges filters the events of owned objects: their creation is the
// controller's own doing, just done in the reconcile that applied them, and
// waking it again would only re-apply what is there. Changes and deletions
// (a Deployment becoming available, a ConfigMap deleted by hand) still
// wake it.
var ownedChanges = builder.WithPredicates(predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }})

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
