package admission

import (
	"context"
	"encoding/json"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// RequestedBy is the mutating webhook that sets a QuarantineReview's
// spec.requestedBy to who creates it, replacing whatever was sent: the
// ledger names the reviewer the API server authenticated, as cert-manager
// does with a CertificateRequest's spec.username. Updates are left alone:
// the CRD's CEL rule keeps the spec as created.
type RequestedBy struct{}

var _ admission.Handler = RequestedBy{}

// Handle sets spec.requestedBy on create.
func (RequestedBy) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("")
	}
	obj := map[string]any{}
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if v, _, _ := unstructured.NestedString(obj, "spec", "requestedBy"); v == req.UserInfo.Username {
		return admission.Allowed("")
	}
	if err := unstructured.SetNestedField(obj, req.UserInfo.Username, "spec", "requestedBy"); err != nil {
		// spec is not an object: the schema refuses the review anyway.
		return admission.Denied("spec must be an object")
	}
	mutated, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, mutated)
}
