package controllers

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/conditions"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/validate"
)

// JourneyMapReconciler runs each map's evaluator: a Deployment (a
// StatefulSet, one pod per shard, when spec.evaluation.shards is above 1)
// + Service configured through a ConfigMap with the map and its resolved
// sources, and a Role that lets the evaluator patch only this map's status.
type JourneyMapReconciler struct {
	Deps
}

// journeyStatusFields are the status fields the operator owns; the evaluator
// owns the counts (users, stages, conversions, alerts, ...) under its own
// field manager.
var journeyStatusFields = []string{"observedGeneration", "conditions", "stageCount", "workload", "lastHandledRequestedAt"}

// SetupWithManager watches maps, what they own, and sources.
func (r *JourneyMapReconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.JourneyMap{}, userChanges).
		Watches(&v1alpha1.JourneyMap{}, ForgetOnDelete(r.Compiled, r.Announced)).
		Owns(&corev1.ConfigMap{}, ownedChanges).
		Owns(&corev1.ServiceAccount{}, ownedChanges).
		Owns(&rbacv1.Role{}, ownedChanges).
		Owns(&rbacv1.RoleBinding{}, ownedChanges).
		Owns(&appsv1.Deployment{}, ownedChanges).
		Owns(&appsv1.StatefulSet{}, ownedChanges).
		Owns(&corev1.Service{}, ownedChanges).
		Watches(&v1alpha1.TouchpointSource{}, selectorsOf(r.Client, func() client.ObjectList { return &v1alpha1.JourneyMapList{} }), specOrLabelsChanged).
		WithOptions(controllerOptions(workers)).
		Named("journeymap").
		Complete(r)
}

// Reconcile brings one map's evaluator and status in line with its spec.
func (r *JourneyMapReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var jm v1alpha1.JourneyMap
	if err := r.Client.Get(ctx, req.NamespacedName, &jm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := jm.Status.DeepCopy()
	res, err := r.reconcile(ctx, &jm)
	if err != nil {
		conditions.MarkRetrying(&jm, reasonOf(err), "%v", err)
	}
	r.emitReady(&jm, before.Conditions)
	if perr := r.applyStatus(ctx, &jm, before, &jm.Status, journeyStatusFields); perr != nil {
		return ctrl.Result{}, fmt.Errorf("writing status: %w", perr)
	}
	return res, err
}

func (r *JourneyMapReconciler) reconcile(ctx context.Context, jm *v1alpha1.JourneyMap) (ctrl.Result, error) {
	names := render.NamesForJourney(jm.Name)
	jm.Status.StageCount = int32(len(jm.Spec.Stages))
	kind := "Deployment"
	if jm.Spec.ShardCount() > 1 {
		kind = "StatefulSet"
	}
	jm.Status.Workload = &v1alpha1.WorkloadReference{Kind: kind, Name: names.Deployment, Service: names.Service}
	if req := jm.Annotations[v1alpha1.RequestedAtAnnotation]; req != "" {
		jm.Status.LastHandledRequestedAt = req
	}

	if p := r.Compiled.Problems(jm, func() validate.Problems { return validate.Journey(r.Expr, &jm.Spec) }); len(p) > 0 {
		conditions.MarkStalled(jm, "InvalidSpec", "%s", p)
		return ctrl.Result{}, nil
	}
	sources, err := r.sources(ctx, jm)
	if err != nil {
		return ctrl.Result{}, err
	}
	cm, hash, err := render.JourneyConfigMap(jm, sources)
	if err != nil {
		return ctrl.Result{}, failed(ReasonRenderFailed, err)
	}
	// One workload kind at a time: the other, left from before the number
	// of shards changed, goes.
	var workload, other client.Object = render.EvaluatorDeployment(jm, hash, r.Render), &appsv1.StatefulSet{}
	if kind == "StatefulSet" {
		workload, other = render.EvaluatorStatefulSet(jm, hash, r.Render), &appsv1.Deployment{}
	}
	for _, obj := range []client.Object{
		render.EvaluatorServiceAccount(jm), render.EvaluatorRole(jm), render.EvaluatorRoleBinding(jm), cm,
		workload, render.EvaluatorService(jm),
	} {
		if err := r.apply(ctx, obj); err != nil {
			return ctrl.Result{}, err
		}
	}
	other.SetNamespace(jm.Namespace)
	other.SetName(names.Deployment)
	if err := r.deleteIfCached(ctx, other); err != nil {
		return ctrl.Result{}, err
	}

	refs := append(render.JourneySecretRefs(jm.Spec), render.JourneyStore(r.Render))
	missing, err := r.missingSecrets(ctx, jm.Namespace, refs)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(missing) > 0 {
		conditions.MarkRetrying(jm, ReasonSecretMissing, "%s", missingSecretsMessage(missing, jm.Namespace))
		return ctrl.Result{RequeueAfter: r.SecretRetry}, nil
	}
	if len(sources) == 0 {
		conditions.MarkNotReady(jm, ReasonNoSources, "spec.sourceSelector matches no TouchpointSource in namespace %s: label the sources or change the selector", jm.Namespace)
		return ctrl.Result{}, nil
	}
	if jm.Spec.Suspend {
		conditions.MarkReady(jm, ReasonSuspended, "suspended: evaluator %s %s scaled to zero; nothing is evaluated or fires", kind, names.Deployment)
		return ctrl.Result{}, nil
	}
	available, res, err := r.evaluatorAvailable(ctx, jm, kind)
	if !available {
		conditions.MarkReconciling(jm, ReasonWorkloadUnavailable, "waiting for %s %s to become available", kind, names.Deployment)
		return res, err
	}
	if shards := jm.Spec.ShardCount(); shards > 1 {
		conditions.MarkReady(jm, ReasonApplied, "evaluator %s is available, %d shards; %d stages over %d sources", names.Deployment, shards, len(jm.Spec.Stages), len(sources))
		return ctrl.Result{}, nil
	}
	conditions.MarkReady(jm, ReasonApplied, "evaluator %s is available; %d stages over %d sources", names.Deployment, len(jm.Spec.Stages), len(sources))
	return ctrl.Result{}, nil
}

// evaluatorAvailable says whether the map's evaluator workload has rolled
// out and is available.
func (r *JourneyMapReconciler) evaluatorAvailable(ctx context.Context, jm *v1alpha1.JourneyMap, kind string) (bool, ctrl.Result, error) {
	name := render.NamesForJourney(jm.Name).Deployment
	if kind == "StatefulSet" {
		sts, res, err := r.appliedStatefulSet(ctx, jm.Namespace, name)
		return sts != nil && statefulSetAvailable(sts), res, err
	}
	dep, res, err := r.appliedDeployment(ctx, jm.Namespace, name)
	return dep != nil && deploymentAvailable(dep), res, err
}

// sources returns, in name order, the TouchpointSources the map selects.
func (r *JourneyMapReconciler) sources(ctx context.Context, jm *v1alpha1.JourneyMap) ([]v1alpha1.TouchpointSource, error) {
	sel, err := validate.Selector(&jm.Spec.SourceSelector)
	if err != nil {
		return nil, err
	}
	var list v1alpha1.TouchpointSourceList
	if err := r.Client.List(ctx, &list, client.InNamespace(jm.Namespace)); err != nil {
		return nil, failedf(ReasonReadFailed, err, "listing TouchpointSources")
	}
	var out []v1alpha1.TouchpointSource
	for _, s := range list.Items {
		if sel.Matches(labelSet(s.Labels)) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
