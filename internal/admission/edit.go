package admission

import (
	"maps"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// lastAppliedAnnotation is kubectl's (and Argo CD's client-side apply) copy of
// the applied manifest. It changes only with what it copies, or with
// annotations that are not configuration (a new change-author per commit).
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// notConfiguration are the annotations whose change is not an edit: the
// stamps themselves, the GitOps author passed along with a change (a new
// commit elsewhere in the repository must not make its author this object's
// editor), a request for a run (an action, not configuration) and kubectl's
// copy of the manifest.
var notConfiguration = map[string]bool{
	v1alpha1.LastModifiedByAnnotation:  true,
	v1alpha1.LastModifiedAtAnnotation:  true,
	v1alpha1.LastModifiedViaAnnotation: true,
	v1alpha1.ChangeAuthorAnnotation:    true,
	v1alpha1.RequestedAtAnnotation:     true,
	lastAppliedAnnotation:              true,
}

// IsEdit reports whether an update changes what a user configures: the
// spec, the labels (they decide which rules and maps select a source) or an
// annotation other than those in notConfiguration. Everything else in an
// update (status, finalizers, ownerReferences, managedFields, the
// requested-at annotation) is bookkeeping: a no-op sync by Argo CD and the
// operator's own metadata writes are not edits and keep the last editor.
func IsEdit(old, updated *unstructured.Unstructured) bool {
	if !equality.Semantic.DeepEqual(old.Object["spec"], updated.Object["spec"]) {
		return true
	}
	if !maps.Equal(old.GetLabels(), updated.GetLabels()) {
		return true
	}
	return !maps.Equal(configuration(old.GetAnnotations()), configuration(updated.GetAnnotations()))
}

// configuration is the annotations that are configuration.
func configuration(annotations map[string]string) map[string]string {
	out := make(map[string]string, len(annotations))
	for k, v := range annotations {
		if !notConfiguration[k] {
			out[k] = v
		}
	}
	return out
}
