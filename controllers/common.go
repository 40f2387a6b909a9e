package controllers

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/conditions"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/render"
)

// FieldOwner is the one field manager the operator applies with.
const FieldOwner = "journey-operator"

// Event reasons: a small fixed vocabulary.
const (
	ReasonApplied               = "Applied"
	ReasonValidationError       = "ValidationError"
	ReasonValidationRuleInvalid = "ValidationRuleInvalid"
	ReasonSecretMissing         = "SecretMissing"
	ReasonWorkloadUnavailable   = "WorkloadUnavailable"
	ReasonRunSucceeded          = "RunSucceeded"
	ReasonRunFailed             = "RunFailed"
	ReasonRunStale              = "RunStale"
	ReasonRunVolumeAnomaly      = "RunVolumeAnomaly"
	ReasonRunRequested          = "RunRequested"
	ReasonSuspended             = "Suspended"
	ReasonNoSources             = "NoSources"
	ReasonApplyFailed           = "ApplyFailed"
)

// maxEventNote caps Event messages; the API server refuses notes over 1kB.
const maxEventNote = 1000

// Deps are what every reconciler needs.
type Deps struct {
	Client client.Client
	// APIReader reads around the cache: Secret metadata, which is never cached.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Expr      *expr.Env
	Render    render.Options
	// SecretRetry is how soon a resource missing a Secret looks again.
	SecretRetry time.Duration
	// Announced remembers what was last announced per object; see announcer.
	Announced *Announcer
	// Compiled remembers what compiling each object's spec found.
	Compiled *CompileCache
	// Metrics are the compliance series; nil publishes none.
	Metrics *Metrics
}

// apply server-side applies a rendered object under the operator's field
// owner. An apply that changes nothing writes nothing.
func (d *Deps) apply(ctx context.Context, obj client.Object) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return failed(ReasonRenderFailed, err)
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "jobTemplate", "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "jobTemplate", "spec", "template", "metadata", "creationTimestamp")
	ac := client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u})
	if err := d.Client.Apply(ctx, ac, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return failedf(ReasonApplyFailed, err, "applying %s %s", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName())
	}
	return nil
}

// appliedDeployment reads a Deployment this reconcile has just applied. The
// cache may not hold it yet (its creation does not wake the controller
// again), so a missing one is looked at again shortly rather than failing.
func (d *Deps) appliedDeployment(ctx context.Context, namespace, name string) (*appsv1.Deployment, ctrl.Result, error) {
	return applied[appsv1.Deployment](ctx, d, namespace, name)
}

// appliedStatefulSet is appliedDeployment for a StatefulSet.
func (d *Deps) appliedStatefulSet(ctx context.Context, namespace, name string) (*appsv1.StatefulSet, ctrl.Result, error) {
	return applied[appsv1.StatefulSet](ctx, d, namespace, name)
}

func applied[T any, P interface {
	*T
	client.Object
}](ctx context.Context, d *Deps, namespace, name string) (P, ctrl.Result, error) {
	obj := P(new(T))
	err := d.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return nil, ctrl.Result{RequeueAfter: time.Second}, nil
	case err != nil:
		return nil, ctrl.Result{}, failedf(ReasonReadFailed, err, "reading %s %s", reflect.TypeFor[T]().Name(), name)
	}
	return obj, ctrl.Result{}, nil
}

// deleteIfExists removes an owned object that the spec no longer asks for.
func (d *Deps) deleteIfExists(ctx context.Context, obj client.Object) error {
	err := d.Client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground))
	return failedf(ReasonPruneFailed, client.IgnoreNotFound(err), "removing %T %s", obj, obj.GetName())
}

// deleteIfCached is deleteIfExists for an object most resources never
// have: it asks the API server only when the cache holds one, so that
// reconciling them sends no request for it.
func (d *Deps) deleteIfCached(ctx context.Context, obj client.Object) error {
	if err := d.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return failed(ReasonReadFailed, client.IgnoreNotFound(err))
	}
	return d.deleteIfExists(ctx, obj)
}

// applyStatus writes the status fields the operator owns, with server-side
// apply on the status subresource, and only when they changed: at rest the
// operator writes nothing. fields lists the top-level status fields it owns
// (nil: all of them).
func (d *Deps) applyStatus(ctx context.Context, obj client.Object, before, after any, fields []string) error {
	if equality.Semantic.DeepEqual(before, after) {
		return nil
	}
	st, err := runtime.DefaultUnstructuredConverter.ToUnstructured(after)
	if err != nil {
		return err
	}
	if fields != nil {
		owned := map[string]any{}
		for _, f := range fields {
			if v, ok := st[f]; ok {
				owned[f] = v
			}
		}
		st = owned
	}
	gvk, err := gvkOf(obj)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": st}}
	u.SetGroupVersionKind(gvk)
	u.SetName(obj.GetName())
	u.SetNamespace(obj.GetNamespace())
	err = d.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership)
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	return err
}

func gvkOf(obj client.Object) (gvk schema.GroupVersionKind, err error) {
	switch obj.(type) {
	case *v1alpha1.TouchpointSource:
		return v1alpha1.GroupVersion.WithKind("TouchpointSource"), nil
	case *v1alpha1.ValidationRule:
		return v1alpha1.GroupVersion.WithKind("ValidationRule"), nil
	case *v1alpha1.JourneyMap:
		return v1alpha1.GroupVersion.WithKind("JourneyMap"), nil
	case *v1alpha1.QuarantineReview:
		return v1alpha1.GroupVersion.WithKind("QuarantineReview"), nil
	}
	return gvk, fmt.Errorf("not a journey kind: %T", obj)
}

// missingSecrets returns, sorted, the referenced Secrets that do not exist.
// Only metadata is read: the operator never sees Secret data.
func (d *Deps) missingSecrets(ctx context.Context, namespace string, refs []v1alpha1.SecretKeyRef) ([]string, error) {
	seen := map[string]bool{}
	var missing []string
	for _, r := range refs {
		if r.Name == "" || seen[r.Name] {
			continue
		}
		seen[r.Name] = true
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		err := d.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: r.Name}, m)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, r.Name)
		case err != nil:
			return nil, failedf(ReasonSecretReadFailed, err, "looking up Secret %s", r.Name)
		}
	}
	sort.Strings(missing)
	return missing, nil
}

func missingSecretsMessage(missing []string, namespace string) string {
	q := make([]string, len(missing))
	for i, m := range missing {
		q[i] = fmt.Sprintf("%q", m)
	}
	noun := "Secret"
	if len(missing) > 1 {
		noun = "Secrets"
	}
	return fmt.Sprintf("%s %s not found in namespace %s: create it; the resource recovers by itself once it exists",
		noun, strings.Join(q, ", "), namespace)
}

// deploymentAvailable reports whether a Deployment has rolled out its
// current spec and has an available replica (or none is wanted).
func deploymentAvailable(dep *appsv1.Deployment) bool {
	if dep.Status.ObservedGeneration < dep.Generation {
		return false
	}
	if dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0 {
		return true
	}
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue && dep.Status.UpdatedReplicas >= ptrInt32(dep.Spec.Replicas)
		}
	}
	return false
}

// statefulSetAvailable reports whether a StatefulSet has rolled out its
// spec and every pod is available.
func statefulSetAvailable(s *appsv1.StatefulSet) bool {
	if s.Status.ObservedGeneration < s.Generation {
		return false
	}
	want := ptrInt32(s.Spec.Replicas)
	return s.Status.AvailableReplicas >= want && s.Status.UpdatedReplicas >= want
}

func ptrInt32(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// event records an Event when the Ready condition moved, or always for
// warnings the caller decided to report. Messages are capped.
func (d *Deps) event(obj runtime.Object, warning bool, reason, format string, args ...any) {
	if d.Recorder == nil {
		return
	}
	note := fmt.Sprintf(format, args...)
	if len(note) > maxEventNote {
		note = note[:maxEventNote-3] + "..."
	}
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	d.Recorder.Eventf(obj, nil, typ, reason, "Reconcile", "%s", note)
}

// readyChanged reports whether the Ready condition's status or reason moved
// between two condition lists: Events are emitted on change, not on resync.
func readyChanged(before, after []metav1.Condition) bool {
	b := apimeta.FindStatusCondition(before, v1alpha1.ConditionReady)
	a := apimeta.FindStatusCondition(after, v1alpha1.ConditionReady)
	if a == nil {
		return false
	}
	return b == nil || b.Status != a.Status || b.Reason != a.Reason || b.Message != a.Message
}

// emitReady records the new Ready state as an Event when it changed.
func (d *Deps) emitReady(obj conditions.Object, before []metav1.Condition) {
	if !readyChanged(before, obj.GetConditions()) {
		return
	}
	c := conditions.Get(obj, v1alpha1.ConditionReady)
	ro, ok := obj.(client.Object)
	if !ok || c.Status == metav1.ConditionUnknown {
		return
	}
	if !d.Announced.First(ro.GetUID(), "ready", string(c.Status)+"/"+c.Reason+"/"+c.Message) {
		return
	}
	d.event(ro, c.Status == metav1.ConditionFalse, c.Reason, "%s", c.Message)
}
