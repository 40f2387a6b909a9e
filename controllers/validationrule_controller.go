package controllers

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/conditions"
	"github.com/cjm-dev/journey-operator/internal/validate"
)

// ValidationRuleReconciler compiles each rule's checks with the data plane's
// CEL environment and records which sources the rule applies to. Sources
// pick rules up themselves (TouchpointSourceReconciler watches rules).
type ValidationRuleReconciler struct {
	Deps
}

// SetupWithManager watches rules and, for matchedSources, every source.
func (r *ValidationRuleReconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ValidationRule{}, userChanges).
		Watches(&v1alpha1.ValidationRule{}, ForgetOnDelete(r.Compiled, r.Announced)).
		Watches(&v1alpha1.TouchpointSource{}, selectorsOf(r.Client, func() client.ObjectList { return &v1alpha1.ValidationRuleList{} }), specOrLabelsChanged).
		WithOptions(controllerOptions(workers)).
		Named("validationrule").
		Complete(r)
}

// Reconcile compiles one rule and resolves its sources.
func (r *ValidationRuleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rule v1alpha1.ValidationRule
	if err := r.Client.Get(ctx, req.NamespacedName, &rule); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := rule.Status.DeepCopy()
	err := r.reconcile(ctx, &rule)
	if err != nil {
		conditions.MarkRetrying(&rule, "ListFailed", "%v", err)
	}
	r.emitReady(&rule, before.Conditions)
	if perr := r.applyStatus(ctx, &rule, before, &rule.Status, nil); perr != nil {
		return ctrl.Result{}, fmt.Errorf("writing status: %w", perr)
	}
	return ctrl.Result{}, err
}

func (r *ValidationRuleReconciler) reconcile(ctx context.Context, rule *v1alpha1.ValidationRule) error {
	var p validate.Problems
	p.AddSelector("spec.sourceSelector", &rule.Spec.SourceSelector)
	p = append(p, r.Compiled.Problems(rule, func() validate.Problems { return validate.Checks(r.Expr, rule.Spec.Checks) })...)

	rule.Status.MatchedSources = nil
	if sel, err := validate.Selector(&rule.Spec.SourceSelector); err == nil {
		var sources v1alpha1.TouchpointSourceList
		if err := r.Client.List(ctx, &sources, client.InNamespace(rule.Namespace)); err != nil {
			return err
		}
		for _, s := range sources.Items {
			if sel.Matches(labelSet(s.Labels)) {
				rule.Status.MatchedSources = append(rule.Status.MatchedSources, s.Name)
			}
		}
		sort.Strings(rule.Status.MatchedSources)
	}

	if len(p) > 0 {
		conditions.MarkStalled(rule, "InvalidCheck", "%s", p)
		return nil
	}
	conditions.MarkReady(rule, "Compiled", "%d checks compile; applied to %d sources", len(rule.Spec.Checks), len(rule.Status.MatchedSources))
	return nil
}

func labelSet(l map[string]string) labels.Set { return labels.Set(l) }

func controllerOptions(workers int) controller.Options {
	if workers < 1 {
		workers = 1
	}
	return controller.Options{MaxConcurrentReconciles: workers}
}
