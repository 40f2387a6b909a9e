package controllers_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/controllers"
	"github.com/cjm-dev/journey-operator/internal/validate"
)

// A rule's checks compile once per generation, however many sources ask.
func TestCompileCacheCompilesOncePerGeneration(t *testing.T) {
	var cache controllers.CompileCache
	rule := &v1alpha1.ValidationRule{ObjectMeta: metav1.ObjectMeta{UID: "rule-1", Generation: 1}}
	calls := 0
	compile := func() validate.Problems { calls++; return validate.Problems{"check x: broken"} }
	for i := 0; i < 500; i++ {
		if p := cache.Problems(rule, compile); len(p) != 1 {
			t.Fatalf("problems %v", p)
		}
	}
	rule.Generation = 2 // the rule was edited
	if p := cache.Problems(rule, func() validate.Problems { calls++; return nil }); len(p) != 0 {
		t.Fatalf("the new generation's problems were not computed: %v", p)
	}
	if calls != 2 {
		t.Errorf("compiled %d times for two generations, want 2", calls)
	}
}

// A deleted object's entries go with it: the caches hold live objects
// only, however many come and go.
func TestForgetOnDeleteDropsADeletedObjectsEntries(t *testing.T) {
	var compiled controllers.CompileCache
	var announced controllers.Announcer
	kept := &v1alpha1.TouchpointSource{ObjectMeta: metav1.ObjectMeta{UID: "kept", Generation: 1}}
	gone := &v1alpha1.TouchpointSource{ObjectMeta: metav1.ObjectMeta{UID: "gone", Generation: 1}}
	for _, obj := range []*v1alpha1.TouchpointSource{kept, gone} {
		compiled.Problems(obj, func() validate.Problems { return nil })
		announced.First(obj.UID, "ready", "True")
	}
	h := controllers.ForgetOnDelete(&compiled, &announced)
	h.Delete(context.Background(), event.DeleteEvent{Object: gone}, nil)
	if compiled.Len() != 1 || announced.Len() != 1 {
		t.Fatalf("after one of two objects was deleted the caches hold %d and %d objects, want 1 and 1", compiled.Len(), announced.Len())
	}
	if !announced.First(gone.UID, "ready", "True") {
		t.Error("a deleted object's last announcement was kept")
	}
	if announced.First(kept.UID, "ready", "True") {
		t.Error("a live object's last announcement was forgotten")
	}
}
