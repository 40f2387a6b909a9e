// Package conditions sets the status conditions of journey resources the
// kstatus way, so that kubectl wait, Argo CD, Flux and helm --wait read them
// correctly:
//
//   - Ready is always present once the controller has looked at the object;
//   - Reconciling=True while work for the current generation is under way;
//   - Stalled=True when only a change of spec can help;
//   - Reconciling and Stalled are never both present;
//   - status.observedGeneration moves to metadata.generation only when a
//     result for that generation is known (Ready, NotReady or Stalled), never
//     while work is still under way.
//
// The helpers change the object in memory only; writing status is the
// caller's job. Setting a condition to what it already is keeps its
// lastTransitionTime, so a reconcile that changes nothing writes nothing.
package conditions

import (
	"fmt"
	"unicode/utf8"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// Object is a journey resource with status conditions.
type Object interface {
	GetGeneration() int64
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
	SetObservedGeneration(int64)
}

// Reasons used by the helpers themselves; controllers bring their own for the
// outcomes they report.
const (
	// ReasonProgressing: work for the current generation is under way.
	ReasonProgressing = "Progressing"
	// ReasonProgressingWithRetry: the last attempt failed and will be retried.
	ReasonProgressingWithRetry = "ProgressingWithRetry"
)

// MaxMessageLength caps condition messages: they are read in kubectl get and
// describe, and status objects must stay small.
const MaxMessageLength = 1024

// MarkReconciling records that work for the current generation has started:
// Reconciling=True, Ready=Unknown, Stalled removed.
func MarkReconciling(obj Object, reason, format string, args ...any) {
	msg := message(format, args...)
	set(obj, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
	set(obj, v1alpha1.ConditionReady, metav1.ConditionUnknown, reason, msg)
	remove(obj, v1alpha1.ConditionStalled)
}

// MarkRetrying records a failure that is expected to pass without a change of
// spec (a Secret not there yet, a conflict, an API error): Ready=False with
// the reason, Reconciling=True with ProgressingWithRetry, Stalled removed. The
// generation is not observed yet.
func MarkRetrying(obj Object, reason, format string, args ...any) {
	msg := message(format, args...)
	set(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	set(obj, v1alpha1.ConditionReconciling, metav1.ConditionTrue, ReasonProgressingWithRetry, msg)
	remove(obj, v1alpha1.ConditionStalled)
}

// MarkReady records a successful reconcile of the current generation.
func MarkReady(obj Object, reason, format string, args ...any) {
	finish(obj, metav1.ConditionTrue, reason, message(format, args...))
	remove(obj, v1alpha1.ConditionStalled)
}

// MarkNotReady records that the current generation was reconciled but the
// resource does not work, for a reason outside its spec that is reported, not
// retried (e.g. the last ingest run failed). kstatus reads Ready=False
// without Stalled as InProgress: a problem that may pass without a change of
// spec, such as the next scheduled run succeeding.
func MarkNotReady(obj Object, reason, format string, args ...any) {
	finish(obj, metav1.ConditionFalse, reason, message(format, args...))
	remove(obj, v1alpha1.ConditionStalled)
}

// MarkStalled records that the current generation cannot be reconciled until
// its spec changes: Stalled=True and Ready=False with the same reason and
// message, Reconciling removed.
func MarkStalled(obj Object, reason, format string, args ...any) {
	msg := message(format, args...)
	finish(obj, metav1.ConditionFalse, reason, msg)
	set(obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
}

// Get returns the condition of the given type, or nil.
func Get(obj Object, conditionType string) *metav1.Condition {
	return apimeta.FindStatusCondition(obj.GetConditions(), conditionType)
}

// IsReady reports whether Ready is True for the current generation.
func IsReady(obj Object) bool {
	c := Get(obj, v1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == obj.GetGeneration()
}

// Set sets a condition of any other type (e.g. AuditCompliant) for the
// current generation.
func Set(obj Object, conditionType string, status metav1.ConditionStatus, reason, format string, args ...any) {
	set(obj, conditionType, status, reason, message(format, args...))
}

// Remove deletes a condition of any other type.
func Remove(obj Object, conditionType string) { remove(obj, conditionType) }

func finish(obj Object, ready metav1.ConditionStatus, reason, msg string) {
	set(obj, v1alpha1.ConditionReady, ready, reason, msg)
	remove(obj, v1alpha1.ConditionReconciling)
	obj.SetObservedGeneration(obj.GetGeneration())
}

func set(obj Object, conditionType string, status metav1.ConditionStatus, reason, msg string) {
	conds := obj.GetConditions()
	apimeta.SetStatusCondition(&conds, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            msg,
		ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(conds)
}

func remove(obj Object, conditionType string) {
	conds := obj.GetConditions()
	if apimeta.RemoveStatusCondition(&conds, conditionType) {
		obj.SetConditions(conds)
	}
}

// message formats and caps a condition message on a rune boundary.
func message(format string, args ...any) string {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	if len(msg) <= MaxMessageLength {
		return msg
	}
	cut := MaxMessageLength - len("…")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}
