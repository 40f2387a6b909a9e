package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/conditions"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// Reasons of a QuarantineReview's conditions.
const (
	ReasonReviewRunning  = "ReviewRunning"
	ReasonReviewed       = "Reviewed"
	ReasonReviewFailed   = "ReviewFailed"
	ReasonSourceNotFound = "SourceNotFound"
	ReasonNotFinancial   = "SourceNotFinancial"
	ReasonNotAdmitted    = "NotAdmitted"
)

// QuarantineReviewReconciler carries out each review's decision with a Job
// running `journey review`, and copies what it did, from the pod's
// termination message, into status. The decision itself is the store's:
// one transaction, one ledger entry, applied once however often the Job
// runs.
type QuarantineReviewReconciler struct {
	Deps
}

// SetupWithManager watches reviews and the Jobs and pods that carry them
// out. A review's spec never changes, so only new reviews and their
// workloads' progress wake it.
func (r *QuarantineReviewReconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.QuarantineReview{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.QuarantineReview{}, ForgetOnDelete(r.Compiled, r.Announced)).
		Owns(&corev1.ConfigMap{}, ownedChanges).
		Owns(&batchv1.Job{}, ownedChanges).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToReview)).
		WithOptions(controllerOptions(workers)).
		Named("quarantinereview").
		Complete(r)
}

// podToReview maps a review pod to its review by label.
func podToReview(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[render.LabelReview]
	if name == "" || o.GetLabels()[render.LabelComponent] != render.ComponentReview {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// Reconcile runs one review to its end, once.
func (r *QuarantineReviewReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rev v1alpha1.QuarantineReview
	if err := r.Client.Get(ctx, req.NamespacedName, &rev); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// A decision carried out is final: nothing more to do, nothing written.
	if rev.Status.CompletionTime != nil && rev.Status.ObservedGeneration == rev.Generation {
		return ctrl.Result{}, nil
	}
	before := rev.Status.DeepCopy()
	res, err := r.reconcile(ctx, &rev)
	if err != nil {
		conditions.MarkRetrying(&rev, reasonOf(err), "%v", err)
	}
	r.emitReady(&rev, before.Conditions)
	if perr := r.applyStatus(ctx, &rev, before, &rev.Status, nil); perr != nil {
		return ctrl.Result{}, fmt.Errorf("writing status: %w", perr)
	}
	return res, err
}

func (r *QuarantineReviewReconciler) reconcile(ctx context.Context, rev *v1alpha1.QuarantineReview) (ctrl.Result, error) {
	names := render.NamesForReview(rev.Name)
	rev.Status.Workload = &v1alpha1.WorkloadReference{Kind: "Job", Name: names.Job}
	if rev.Spec.RequestedBy == "" {
		conditions.MarkStalled(rev, ReasonNotAdmitted, "spec.requestedBy is empty: the review was not admitted through the operator's webhook, so nobody is recorded as deciding; delete it and create it again with the webhook running")
		return ctrl.Result{}, nil
	}
	var src v1alpha1.TouchpointSource
	srcKey := types.NamespacedName{Namespace: rev.Namespace, Name: rev.Spec.Source}
	err := r.Client.Get(ctx, srcKey, &src)
	if apierrors.IsNotFound(err) {
		// The cache may not have seen a source created just before the
		// review; the API server has, and "does not exist" is final.
		err = r.APIReader.Get(ctx, srcKey, &src)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			conditions.MarkStalled(rev, ReasonSourceNotFound, "TouchpointSource %s/%s does not exist (deleted after the review was admitted): create a review of an existing source", rev.Namespace, rev.Spec.Source)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, failedf(ReasonReadFailed, err, "reading TouchpointSource %s", rev.Spec.Source)
	}
	if !src.Spec.Financial {
		conditions.MarkStalled(rev, ReasonNotFinancial, "TouchpointSource %s/%s is not financial (spec.financial): only a financial source's quarantine is reviewed", rev.Namespace, src.Name)
		return ctrl.Result{}, nil
	}

	if done, res, err := r.readOutcome(ctx, rev); done || err != nil {
		return res, err
	}
	store := render.SourceStore(&src, r.Render)
	missing, err := r.missingSecrets(ctx, rev.Namespace, []v1alpha1.SecretKeyRef{store})
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(missing) > 0 {
		conditions.MarkRetrying(rev, ReasonSecretMissing, "%s", missingSecretsMessage(missing, rev.Namespace))
		return ctrl.Result{RequeueAfter: r.SecretRetry}, nil
	}
	cm, hash, err := render.ReviewConfigMap(rev)
	if err != nil {
		return ctrl.Result{}, failed(ReasonRenderFailed, err)
	}
	if err := r.apply(ctx, cm); err != nil {
		return ctrl.Result{}, err
	}
	job := render.ReviewJob(rev, &src, hash, r.Render)
	switch err := r.Client.Create(ctx, job, client.FieldOwner(FieldOwner)); {
	case err == nil:
		r.event(rev, false, ReasonReviewRunning, "started Job %s to %s the selected records of %s", job.Name, strings.ToLower(string(rev.Spec.Decision)), src.Name)
	case !apierrors.IsAlreadyExists(err):
		return ctrl.Result{}, failedf(ReasonJobCreateFailed, err, "creating Job %s", job.Name)
	}
	conditions.MarkReconciling(rev, ReasonReviewRunning, "Job %s is carrying out the decision (%s) on the selected records of %s", job.Name, rev.Spec.Decision, src.Name)
	return ctrl.Result{}, nil
}

// readOutcome copies the review Job's result into status once a pod has
// reported it, or records that the Job gave up. done says the review is
// over.
func (r *QuarantineReviewReconciler) readOutcome(ctx context.Context, rev *v1alpha1.QuarantineReview) (done bool, res ctrl.Result, err error) {
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(rev.Namespace),
		client.MatchingLabels{render.LabelReview: rev.Name, render.LabelComponent: render.ComponentReview}); err != nil {
		return false, ctrl.Result{}, failedf(ReasonReadFailed, err, "listing the review's pods")
	}
	var lastFailure string
	for i := range pods.Items {
		rep, ok := reviewReportOf(&pods.Items[i])
		if !ok {
			continue
		}
		if rep.Outcome == "Succeeded" {
			r.record(rev, rep)
			return true, ctrl.Result{}, nil
		}
		lastFailure = rep.Message
	}
	var job batchv1.Job
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: rev.Namespace, Name: render.NamesForReview(rev.Name).Job}, &job)
	if apierrors.IsNotFound(err) {
		return false, ctrl.Result{}, nil
	}
	if err != nil {
		return false, ctrl.Result{}, failedf(ReasonReadFailed, err, "reading Job %s", job.Name)
	}
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			if lastFailure == "" {
				lastFailure = c.Message
			}
			conditions.MarkStalled(rev, ReasonReviewFailed, "Job %s gave up: %s; nothing was changed: create a new QuarantineReview once the cause is fixed", job.Name, lastFailure)
			return true, ctrl.Result{}, nil
		}
	}
	return false, ctrl.Result{}, nil
}

// record copies a review's result into status.
func (r *QuarantineReviewReconciler) record(rev *v1alpha1.QuarantineReview, rep runconfig.ReviewReport) {
	st := &rev.Status
	out := rep.QuarantineReviewStatus
	st.Matched, st.Released, st.Discarded, st.Duplicates, st.Unreleasable = out.Matched, out.Released, out.Discarded, out.Duplicates, out.Unreleasable
	st.AmountReleased, st.AmountDiscarded, st.Currency = out.AmountReleased, out.AmountDiscarded, out.Currency
	st.Reviewer, st.CompletionTime, st.LedgerHash, st.SourceQuarantine = out.Reviewer, out.CompletionTime, out.LedgerHash, out.SourceQuarantine
	st.OldestRecordTime = out.OldestRecordTime
	r.Metrics.reviewed(rev)
	var msg string
	if rev.Spec.Decision == v1alpha1.DecisionRelease {
		msg = fmt.Sprintf("released %d of %d matched records", st.Released, st.Matched)
		if st.Duplicates > 0 {
			msg += fmt.Sprintf(" (%d more were stored already)", st.Duplicates)
		}
		if st.Unreleasable > 0 {
			msg += fmt.Sprintf("; %d never became events and stay pending", st.Unreleasable)
		}
		if st.AmountReleased != "" {
			msg += fmt.Sprintf("; amount %s %s", st.AmountReleased, st.Currency)
		}
	} else {
		msg = fmt.Sprintf("discarded %d of %d matched records", st.Discarded, st.Matched)
		if st.AmountDiscarded != "" {
			msg += fmt.Sprintf("; amount %s %s", st.AmountDiscarded, st.Currency)
		}
	}
	msg += fmt.Sprintf("; decided by %s, ledger entry %s", st.Reviewer, st.LedgerHash)
	conditions.MarkReady(rev, ReasonReviewed, "%s", msg)
}

// reviewReportOf reads a review pod's termination message.
func reviewReportOf(pod *corev1.Pod) (runconfig.ReviewReport, bool) {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != render.ComponentReview || cs.State.Terminated == nil {
			continue
		}
		term := cs.State.Terminated
		var rep runconfig.ReviewReport
		if err := json.Unmarshal([]byte(term.Message), &rep); err != nil || rep.Outcome == "" {
			return runconfig.ReviewReport{Outcome: "Failed",
				Message: fmt.Sprintf("pod %s exited with code %d (%s) without a result", pod.Name, term.ExitCode, term.Reason)}, true
		}
		return rep, true
	}
	return runconfig.ReviewReport{}, false
}
