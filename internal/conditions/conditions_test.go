package conditions_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/conditions"
)

// Every kind can be driven by the helpers.
var (
	_ conditions.Object = &v1alpha1.TouchpointSource{}
	_ conditions.Object = &v1alpha1.ValidationRule{}
	_ conditions.Object = &v1alpha1.JourneyMap{}
)

// kinds returns a fresh object of each kind, as the API server returns it
// before the controller has looked at it (generation 1, observedGeneration -1).
func kinds() map[string]func() conditions.Object {
	meta := func(kind string) (metav1.TypeMeta, metav1.ObjectMeta) {
		return metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: kind},
			metav1.ObjectMeta{Name: "x", Namespace: "media", Generation: 1}
	}
	return map[string]func() conditions.Object{
		"TouchpointSource": func() conditions.Object {
			tm, om := meta("TouchpointSource")
			return &v1alpha1.TouchpointSource{TypeMeta: tm, ObjectMeta: om, Status: v1alpha1.TouchpointSourceStatus{ObservedGeneration: -1}}
		},
		"ValidationRule": func() conditions.Object {
			tm, om := meta("ValidationRule")
			return &v1alpha1.ValidationRule{TypeMeta: tm, ObjectMeta: om, Status: v1alpha1.ValidationRuleStatus{ObservedGeneration: -1}}
		},
		"JourneyMap": func() conditions.Object {
			tm, om := meta("JourneyMap")
			return &v1alpha1.JourneyMap{TypeMeta: tm, ObjectMeta: om, Status: v1alpha1.JourneyMapStatus{ObservedGeneration: -1}}
		},
	}
}

// kstatusOf runs kstatus over the object exactly as kubectl/Argo CD/Flux see it.
func kstatusOf(t *testing.T, obj conditions.Object) status.Status {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatalf("kstatus.Compute: %v", err)
	}
	return res.Status
}

func condStatus(obj conditions.Object, typ string) string {
	c := conditions.Get(obj, typ)
	if c == nil {
		return "absent"
	}
	return string(c.Status)
}

func TestKstatusLifecycle(t *testing.T) {
	steps := []struct {
		name    string
		apply   func(conditions.Object)
		kstatus status.Status
		// expected Ready, Reconciling, Stalled ("absent" when not set)
		ready, reconciling, stalled string
		observed                    bool
	}{
		{"fresh object", func(conditions.Object) {}, status.InProgressStatus, "absent", "absent", "absent", false},
		{"reconciling", func(o conditions.Object) {
			conditions.MarkReconciling(o, conditions.ReasonProgressing, "rendering workload")
		}, status.InProgressStatus, "Unknown", "True", "absent", false},
		{"retrying after a transient failure", func(o conditions.Object) {
			conditions.MarkRetrying(o, "SecretMissing", "Secret %q not found", "stripe-api")
		}, status.InProgressStatus, "False", "True", "absent", false},
		{"ready", func(o conditions.Object) {
			conditions.MarkReady(o, "Applied", "CronJob applied")
		}, status.CurrentStatus, "True", "absent", "absent", true},
		{"stalled", func(o conditions.Object) {
			conditions.MarkStalled(o, "InvalidExpression", "spec.mapping.userID: undeclared reference to 'recrd'")
		}, status.FailedStatus, "False", "absent", "True", true},
		{"reconciling again clears stalled", func(o conditions.Object) {
			conditions.MarkReconciling(o, conditions.ReasonProgressing, "retrying")
		}, status.InProgressStatus, "Unknown", "True", "absent", true},
		{"reconciled but not working", func(o conditions.Object) {
			conditions.MarkNotReady(o, "RunFailed", "last run failed: HTTP 503")
		}, status.InProgressStatus, "False", "absent", "absent", true},
	}
	for kind, newObj := range kinds() {
		t.Run(kind, func(t *testing.T) {
			obj := newObj()
			for _, s := range steps {
				s.apply(obj)
				if got := kstatusOf(t, obj); got != s.kstatus {
					t.Errorf("%s: kstatus = %s, want %s", s.name, got, s.kstatus)
				}
				for typ, want := range map[string]string{
					v1alpha1.ConditionReady: s.ready, v1alpha1.ConditionReconciling: s.reconciling, v1alpha1.ConditionStalled: s.stalled,
				} {
					if got := condStatus(obj, typ); got != want {
						t.Errorf("%s: %s = %s, want %s", s.name, typ, got, want)
					}
				}
				if conditions.Get(obj, v1alpha1.ConditionReconciling) != nil && conditions.Get(obj, v1alpha1.ConditionStalled) != nil {
					t.Errorf("%s: Reconciling and Stalled both present", s.name)
				}
				u, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
				og, _, _ := unstructured.NestedInt64(u, "status", "observedGeneration")
				if (og == obj.GetGeneration()) != s.observed {
					t.Errorf("%s: observedGeneration = %d with generation %d, want observed=%v", s.name, og, obj.GetGeneration(), s.observed)
				}
			}
		})
	}
}

func TestNewGenerationIsInProgressUntilObserved(t *testing.T) {
	obj := kinds()["TouchpointSource"]().(*v1alpha1.TouchpointSource)
	conditions.MarkReady(obj, "Applied", "CronJob applied")
	if got := kstatusOf(t, obj); got != status.CurrentStatus {
		t.Fatalf("kstatus = %s, want Current", got)
	}
	obj.Generation = 2 // the user changed the spec
	if got := kstatusOf(t, obj); got != status.InProgressStatus {
		t.Errorf("after a spec change kstatus = %s, want InProgress", got)
	}
	if conditions.IsReady(obj) {
		t.Error("IsReady is true for a Ready condition of an older generation")
	}
	conditions.MarkReady(obj, "Applied", "CronJob applied")
	if got := kstatusOf(t, obj); got != status.CurrentStatus || !conditions.IsReady(obj) {
		t.Errorf("after reconciling generation 2: kstatus = %s, IsReady = %v", got, conditions.IsReady(obj))
	}
	if c := conditions.Get(obj, v1alpha1.ConditionReady); c.ObservedGeneration != 2 {
		t.Errorf("Ready.observedGeneration = %d, want 2", c.ObservedGeneration)
	}
}

// Marking the same state again must not change the condition, or every
// reconcile would write status and trigger itself: a hot loop.
func TestSameStateKeepsTransitionTime(t *testing.T) {
	obj := kinds()["JourneyMap"]()
	conditions.MarkReady(obj, "Applied", "evaluator available")
	first := *conditions.Get(obj, v1alpha1.ConditionReady)
	first.LastTransitionTime = metav1.NewTime(first.LastTransitionTime.Add(-3600e9))
	conds := obj.GetConditions()
	conds[0] = first
	obj.SetConditions(conds)

	conditions.MarkReady(obj, "Applied", "evaluator available")
	again := *conditions.Get(obj, v1alpha1.ConditionReady)
	if !again.LastTransitionTime.Equal(&first.LastTransitionTime) {
		t.Errorf("lastTransitionTime moved from %v to %v without a status change", first.LastTransitionTime, again.LastTransitionTime)
	}
	conditions.MarkNotReady(obj, "WorkloadUnavailable", "evaluator has no available replica")
	if c := conditions.Get(obj, v1alpha1.ConditionReady); c.LastTransitionTime.Equal(&first.LastTransitionTime) {
		t.Error("lastTransitionTime did not move when Ready went from True to False")
	}
}

func TestOtherConditionTypes(t *testing.T) {
	obj := kinds()["TouchpointSource"]()
	conditions.MarkReady(obj, "Applied", "ok")
	conditions.Set(obj, v1alpha1.ConditionAuditCompliant, metav1.ConditionTrue, "LedgerVerified", "ledger chain intact over %d runs", 41)
	if c := conditions.Get(obj, v1alpha1.ConditionAuditCompliant); c == nil || c.Message != "ledger chain intact over 41 runs" || c.ObservedGeneration != 1 {
		t.Fatalf("AuditCompliant = %+v", c)
	}
	if got := kstatusOf(t, obj); got != status.CurrentStatus {
		t.Errorf("an extra condition changed kstatus to %s", got)
	}
	conditions.Remove(obj, v1alpha1.ConditionAuditCompliant)
	if conditions.Get(obj, v1alpha1.ConditionAuditCompliant) != nil {
		t.Error("AuditCompliant still present after Remove")
	}
}

func TestMessagesAreCapped(t *testing.T) {
	obj := kinds()["ValidationRule"]()
	long := strings.Repeat("é", conditions.MaxMessageLength) // 2 bytes a rune
	conditions.MarkStalled(obj, "InvalidCheck", "%s", long)
	msg := conditions.Get(obj, v1alpha1.ConditionStalled).Message
	if len(msg) > conditions.MaxMessageLength || !utf8.ValidString(msg) || !strings.HasSuffix(msg, "…") {
		t.Errorf("message of %d bytes, valid UTF-8 %v, suffix %q", len(msg), utf8.ValidString(msg), msg[len(msg)-3:])
	}
}
