package controllers_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
