package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/conditions"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/validate"
)

// TouchpointSourceReconciler runs each source as an ingest CronJob (batch), a
// webhook receiver Deployment + Service, or a Kafka consumer Deployment
// (stream), configured through a ConfigMap that holds the source and every
// check of the rules that select it.
type TouchpointSourceReconciler struct {
	Deps
}

// SetupWithManager watches sources, the objects they own, the ingest pods
// that report runs, and the ValidationRules that shape their configuration.
func (r *TouchpointSourceReconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.TouchpointSource{}, userChanges).
		Watches(&v1alpha1.TouchpointSource{}, ForgetOnDelete(r.Compiled, r.Announced)).
		Owns(&corev1.ConfigMap{}, ownedChanges).
		Owns(&corev1.ServiceAccount{}, ownedChanges).
		Owns(&batchv1.CronJob{}, ownedChanges).
		Owns(&batchv1.Job{}, ownedChanges).
		Owns(&appsv1.Deployment{}, ownedChanges).
		Owns(&corev1.Service{}, ownedChanges).
		Owns(&policyv1.PodDisruptionBudget{}, ownedChanges).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToSource)).
		Watches(&v1alpha1.ValidationRule{}, sourcesSelectedBy(r.Client), specOrLabelsChanged).
		Watches(&v1alpha1.QuarantineReview{}, handler.EnqueueRequestsFromMapFunc(reviewToSource)).
		WithOptions(controllerOptions(workers)).
		Named("touchpointsource").
		Complete(r)
}

// podToSource maps an ingest pod to its source by label.
func podToSource(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[render.LabelSource]
	if name == "" || o.GetLabels()[render.LabelComponent] != render.ComponentIngest {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// reviewToSource maps a completed review to its source, whose pending
// records it changed.
func reviewToSource(_ context.Context, o client.Object) []reconcile.Request {
	rev, ok := o.(*v1alpha1.QuarantineReview)
	if !ok || rev.Status.CompletionTime == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: rev.Namespace, Name: rev.Spec.Source}}}
}

// Reconcile brings one source's workload and status in line with its spec.
func (r *TouchpointSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var src v1alpha1.TouchpointSource
	if err := r.Client.Get(ctx, req.NamespacedName, &src); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := src.Status.DeepCopy()
	res, err := r.reconcile(ctx, &src)
	if err != nil {
		conditions.MarkRetrying(&src, reasonOf(err), "%v", err)
	}
	r.emitReady(&src, before.Conditions)
	if perr := r.applyStatus(ctx, &src, before, &src.Status, nil); perr != nil {
		return ctrl.Result{}, fmt.Errorf("writing status: %w", perr)
	}
	return res, err
}

func (r *TouchpointSourceReconciler) reconcile(ctx context.Context, src *v1alpha1.TouchpointSource) (ctrl.Result, error) {
	names := render.NamesForSource(src.Name)
	src.Status.Mode = src.Spec.Mode()
	switch src.Status.Mode {
	case v1alpha1.SourceModeWebhook:
		src.Status.Workload = &v1alpha1.WorkloadReference{Kind: "Deployment", Name: names.Deployment, Service: names.Service}
	case v1alpha1.SourceModeStream:
		src.Status.Workload = &v1alpha1.WorkloadReference{Kind: "Deployment", Name: names.Consumer}
	default:
		src.Status.Workload = &v1alpha1.WorkloadReference{Kind: "CronJob", Name: names.CronJob}
	}

	if p := r.Compiled.Problems(src, func() validate.Problems { return validate.Source(r.Expr, &src.Spec) }); len(p) > 0 {
		conditions.MarkStalled(src, "InvalidSpec", "%s", p)
		return ctrl.Result{}, nil
	}

	rules, invalid, err := r.matchingRules(ctx, src)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(invalid) > 0 {
		// A broken rule never reaches a workload: the source keeps running on
		// its last good configuration until the rule is fixed or deleted.
		conditions.MarkNotReady(src, ReasonValidationRuleInvalid,
			"%s; the source keeps running on its last good configuration until the rule is fixed or deleted", strings.Join(invalid, "; "))
		return ctrl.Result{}, nil
	}

	cm, hash, err := render.SourceConfigMap(src, rules)
	if err != nil {
		return ctrl.Result{}, failed(ReasonRenderFailed, err)
	}
	for _, obj := range []client.Object{render.SourceServiceAccount(src), cm} {
		if err := r.apply(ctx, obj); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.applyWorkload(ctx, src, hash); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.handleRequest(ctx, src, hash); err != nil {
		return ctrl.Result{}, err
	}
	if src.Spec.Batch != nil {
		if err := r.foldRuns(ctx, src); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.foldReviews(ctx, src); err != nil {
		return ctrl.Result{}, err
	}
	overdueIn := r.markAudit(src, time.Now())
	r.Metrics.sourceQuarantine(src)

	refs := append(render.SourceSecretRefs(src.Spec), render.SourceStore(src, r.Render))
	missing, err := r.missingSecrets(ctx, src.Namespace, refs)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(missing) > 0 {
		conditions.MarkRetrying(src, ReasonSecretMissing, "%s", missingSecretsMessage(missing, src.Namespace))
		return ctrl.Result{RequeueAfter: r.SecretRetry}, nil
	}
	res, err := r.markOutcome(ctx, src)
	if overdueIn > 0 && (res.RequeueAfter == 0 || overdueIn < res.RequeueAfter) {
		// Look again when the oldest pending record becomes overdue.
		res.RequeueAfter = overdueIn
	}
	return res, err
}

// matchingRules returns, in name order, the rules whose selector matches the
// source, and a description of each that does not compile.
func (r *TouchpointSourceReconciler) matchingRules(ctx context.Context, src *v1alpha1.TouchpointSource) ([]v1alpha1.ValidationRule, []string, error) {
	var list v1alpha1.ValidationRuleList
	if err := r.Client.List(ctx, &list, client.InNamespace(src.Namespace)); err != nil {
		return nil, nil, failedf(ReasonReadFailed, err, "listing ValidationRules")
	}
	var rules []v1alpha1.ValidationRule
	var invalid []string
	for _, rule := range runconfig.MatchingRules(src, list.Items) {
		if p := r.Compiled.Problems(&rule, func() validate.Problems { return validate.Checks(r.Expr, rule.Spec.Checks) }); len(p) > 0 {
			invalid = append(invalid, fmt.Sprintf("ValidationRule %s does not compile (%s)", rule.Name, p))
			continue
		}
		rules = append(rules, rule)
	}
	return rules, invalid, nil
}

// applyWorkload applies the mode's workload and removes the other modes',
// and a receivers' PodDisruptionBudget the spec no longer asks for.
func (r *TouchpointSourceReconciler) applyWorkload(ctx context.Context, src *v1alpha1.TouchpointSource, hash string) error {
	names := render.NamesForSource(src.Name)
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: src.Namespace, Name: name} }
	pdb := render.ReceiverPodDisruptionBudget(src)
	if pdb == nil {
		if err := r.deleteIfCached(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: meta(names.PodDisruptionBudget)}); err != nil {
			return err
		}
	}
	if src.Spec.Stream != nil {
		if err := r.apply(ctx, render.ConsumerDeployment(src, hash, r.Render)); err != nil {
			return err
		}
		for _, obj := range []client.Object{&batchv1.CronJob{ObjectMeta: meta(names.CronJob)},
			&appsv1.Deployment{ObjectMeta: meta(names.Deployment)}, &corev1.Service{ObjectMeta: meta(names.Service)}} {
			if err := r.deleteIfCached(ctx, obj); err != nil {
				return err
			}
		}
		return nil
	}
	// The other modes' workloads are removed only when the cache holds
	// one: most sources never change mode, and asking the API server to
	// delete what is not there cost two requests per reconcile.
	if err := r.deleteIfCached(ctx, &appsv1.Deployment{ObjectMeta: meta(names.Consumer)}); err != nil {
		return err
	}
	if src.Spec.Webhook != nil {
		objs := []client.Object{render.ReceiverDeployment(src, hash, r.Render), render.ReceiverService(src)}
		if pdb != nil {
			objs = append(objs, pdb)
		}
		for _, obj := range objs {
			if err := r.apply(ctx, obj); err != nil {
				return err
			}
		}
		return r.deleteIfCached(ctx, &batchv1.CronJob{ObjectMeta: meta(names.CronJob)})
	}
	if err := r.apply(ctx, render.IngestCronJob(src, hash, r.Render)); err != nil {
		return err
	}
	if err := r.deleteIfCached(ctx, &appsv1.Deployment{ObjectMeta: meta(names.Deployment)}); err != nil {
		return err
	}
	return r.deleteIfCached(ctx, &corev1.Service{ObjectMeta: meta(names.Service)})
}

// handleRequest starts a run now for a new requested-at value (batch), and
// echoes the value once handled.
func (r *TouchpointSourceReconciler) handleRequest(ctx context.Context, src *v1alpha1.TouchpointSource, hash string) error {
	requested := src.Annotations[v1alpha1.RequestedAtAnnotation]
	if requested == "" || requested == src.Status.LastHandledRequestedAt {
		return nil
	}
	if src.Spec.Batch != nil {
		job := render.ManualIngestJob(src, requested, hash, r.Render)
		if err := r.Client.Create(ctx, job, client.FieldOwner(FieldOwner)); err != nil && !apierrors.IsAlreadyExists(err) {
			return failedf(ReasonJobCreateFailed, err, "creating Job %s for the requested run", job.Name)
		}
		r.event(src, false, ReasonRunRequested, "started Job %s for the run requested at %s", job.Name, requested)
	}
	src.Status.LastHandledRequestedAt = requested
	return nil
}

// maxRecentRuns bounds status.recentRuns so the object stays small.
const maxRecentRuns = 5

// foldRuns copies the summaries of finished ingest pods newer than the last
// recorded run into status, oldest first, once each.
func (r *TouchpointSourceReconciler) foldRuns(ctx context.Context, src *v1alpha1.TouchpointSource) error {
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(src.Namespace),
		client.MatchingLabels{render.LabelSource: src.Name, render.LabelComponent: render.ComponentIngest}); err != nil {
		return failedf(ReasonReadFailed, err, "listing ingest pods")
	}
	var runs []v1alpha1.RunSummary
	for i := range pods.Items {
		if rep, ok := runFromPod(&pods.Items[i]); ok {
			runs = append(runs, rep.RunSummary)
			newerQuarantine(src, rep.Quarantine)
		}
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].CompletionTime.Before(runs[j].CompletionTime) })
	seen := map[string]bool{}
	for _, run := range src.Status.RecentRuns {
		seen[run.ID] = true
	}
	for _, run := range runs {
		last := src.Status.LastRun
		if seen[run.ID] || (last != nil && last.CompletionTime != nil && run.CompletionTime.Before(last.CompletionTime)) {
			continue
		}
		seen[run.ID] = true
		r.record(src, run)
	}
	return nil
}

func (r *TouchpointSourceReconciler) record(src *v1alpha1.TouchpointSource, run v1alpha1.RunSummary) {
	st := &src.Status
	st.LastRun = run.DeepCopy()
	st.RecentRuns = append([]v1alpha1.RunSummary{run}, st.RecentRuns...)
	if len(st.RecentRuns) > maxRecentRuns {
		st.RecentRuns = st.RecentRuns[:maxRecentRuns]
	}
	if st.Runs == nil {
		st.Runs = &v1alpha1.RunCounts{}
	}
	// Runs are folded oldest first, so the newest announced is the last.
	announce := r.Announced.First(src.UID, "run", run.CompletionTime.UTC().Format(time.RFC3339Nano)+"/"+run.ID)
	if run.Outcome == v1alpha1.RunFailed {
		st.Runs.Failed++
		if announce {
			r.event(src, true, ReasonRunFailed, "run %s failed: %s", run.ID, run.Message)
		}
		return
	}
	st.Runs.Succeeded++
	st.LastSuccessfulRunTime = run.CompletionTime.DeepCopy()
	if !announce {
		return
	}
	msg := fmt.Sprintf("run %s %s: read %d, accepted %d, duplicates %d, quarantined %d, rejected %d",
		run.ID, strings.ToLower(string(run.Outcome)), run.Read, run.Accepted, run.Duplicates, run.Quarantined, run.Rejected)
	if run.LedgerHash != "" {
		// Events keep the ledger's head outside the store too: an anchor
		// for `journey audit verify`.
		msg += "; ledger " + run.LedgerHash
	}
	switch run.Outcome {
	case v1alpha1.RunStale:
		// The run committed, but the feed it read is behind: a platform
		// team must look, so it is a Warning with the checks that failed.
		r.event(src, true, ReasonRunStale, "%s; %s", msg, run.Message)
	case v1alpha1.RunVolumeAnomaly:
		r.event(src, true, ReasonRunVolumeAnomaly, "%s; %s", msg, run.Message)
	default:
		r.event(src, false, ReasonRunSucceeded, "%s", msg)
	}
}

// runFromPod reads a finished ingest pod's run report from its termination
// message. A pod that died without writing one is a failed run.
func runFromPod(pod *corev1.Pod) (runconfig.RunReport, bool) {
	var term *corev1.ContainerStateTerminated
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == render.ComponentIngest && cs.State.Terminated != nil {
			term = cs.State.Terminated
		}
	}
	if term == nil {
		return runconfig.RunReport{}, false
	}
	rep := runconfig.RunReport{}
	if err := json.Unmarshal([]byte(term.Message), &rep); err != nil || rep.Outcome == "" {
		rep = runconfig.RunReport{RunSummary: v1alpha1.RunSummary{Outcome: v1alpha1.RunFailed,
			Message: fmt.Sprintf("pod %s exited with code %d (%s) without a run summary", pod.Name, term.ExitCode, term.Reason)}}
	}
	run := &rep.RunSummary
	if term.ExitCode != 0 && run.Outcome != v1alpha1.RunFailed {
		run.Outcome = v1alpha1.RunFailed
		run.Message = fmt.Sprintf("pod %s exited with code %d (%s)", pod.Name, term.ExitCode, term.Reason)
	}
	if run.ID == "" {
		run.ID = pod.Name
	}
	if run.StartTime == nil {
		run.StartTime = term.StartedAt.DeepCopy()
	}
	if run.CompletionTime == nil {
		run.CompletionTime = term.FinishedAt.DeepCopy()
	}
	return rep, true
}

// markOutcome sets Ready from the workload and the last run.
func (r *TouchpointSourceReconciler) markOutcome(ctx context.Context, src *v1alpha1.TouchpointSource) (ctrl.Result, error) {
	names := render.NamesForSource(src.Name)
	if src.Spec.Stream != nil {
		return r.markConsumer(ctx, src, names.Consumer)
	}
	if src.Spec.Webhook != nil {
		if src.Spec.Suspend {
			conditions.MarkReady(src, ReasonSuspended, "suspended: receiver Deployment %s scaled to zero", names.Deployment)
			return ctrl.Result{}, nil
		}
		dep, res, err := r.appliedDeployment(ctx, src.Namespace, names.Deployment)
		if dep == nil {
			conditions.MarkReconciling(src, ReasonWorkloadUnavailable, "waiting for Deployment %s to become available", names.Deployment)
			return res, err
		}
		if !deploymentAvailable(dep) {
			conditions.MarkReconciling(src, ReasonWorkloadUnavailable, "waiting for Deployment %s to become available", names.Deployment)
			return ctrl.Result{}, nil
		}
		conditions.MarkReady(src, ReasonApplied, "receiver Deployment %s is available behind Service %s", names.Deployment, names.Service)
		return ctrl.Result{}, nil
	}
	if last := src.Status.LastRun; last != nil && last.Outcome == v1alpha1.RunFailed {
		conditions.MarkNotReady(src, ReasonRunFailed, "last run %s failed: %s", last.ID, last.Message)
		return ctrl.Result{}, nil
	}
	if src.Spec.Suspend {
		conditions.MarkReady(src, ReasonSuspended, "suspended: CronJob %s starts no runs", names.CronJob)
		return ctrl.Result{}, nil
	}
	msg := fmt.Sprintf("CronJob %s runs on %q", names.CronJob, src.Spec.Batch.Schedule)
	if last := src.Status.LastRun; last != nil {
		msg += fmt.Sprintf("; last run %s: accepted %d of %d read", strings.ToLower(string(last.Outcome)), last.Accepted, last.Read)
		if last.Quarantined > 0 {
			msg += fmt.Sprintf(", %d quarantined for review", last.Quarantined)
		}
		if last.Outcome == v1alpha1.RunStale || last.Outcome == v1alpha1.RunVolumeAnomaly {
			msg += " (" + last.Message + ")"
		}
	}
	conditions.MarkReady(src, ReasonApplied, "%s", msg)
	return ctrl.Result{}, nil
}

// markConsumer sets Ready from the consumer Deployment: a consumer is
// ready only while it reaches its brokers, so a Kafka cluster that is down
// shows here as the Deployment becoming unavailable.
func (r *TouchpointSourceReconciler) markConsumer(ctx context.Context, src *v1alpha1.TouchpointSource, name string) (ctrl.Result, error) {
	if src.Spec.Suspend {
		conditions.MarkReady(src, ReasonSuspended, "suspended: consumer Deployment %s scaled to zero", name)
		return ctrl.Result{}, nil
	}
	k := src.Spec.Stream.Kafka
	dep, res, err := r.appliedDeployment(ctx, src.Namespace, name)
	if dep == nil || !deploymentAvailable(dep) {
		conditions.MarkReconciling(src, ReasonWorkloadUnavailable,
			"waiting for Deployment %s to become available: a consumer is ready once it reaches the Kafka brokers %s", name, strings.Join(k.Brokers, ", "))
		return res, err
	}
	conditions.MarkReady(src, ReasonApplied, "consumer Deployment %s is available, reading %s as consumer group %s",
		name, strings.Join(k.Topics, ", "), k.ConsumerGroup)
	return ctrl.Result{}, nil
}
