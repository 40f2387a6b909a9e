package admission

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Stamper is the mutating webhook that records who changed a
// TouchpointSource, ValidationRule or JourneyMap and when. It reads the
// object as unstructured: it touches only metadata.annotations and must not
// drop fields a newer API version adds.
type Stamper struct {
	// GitOps are the usernames whose change-author annotation is trusted.
	GitOps map[string]bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

var _ admission.Handler = &Stamper{}

// Handle stamps one create or update.
func (s *Stamper) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.SubResource != "" {
		// The rules match the main resource only; a status write is never an
		// edit, whatever reaches here.
		return admission.Allowed("")
	}
	obj := &unstructured.Unstructured{}
	if err := json.Unmarshal(req.Object.Raw, &obj.Object); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	edit := true
	var stored map[string]string
	if req.Operation == admissionv1.Update {
		old := &unstructured.Unstructured{}
		if err := json.Unmarshal(req.OldObject.Raw, &old.Object); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		edit = IsEdit(old, obj)
		stored = old.GetAnnotations()
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	w := Writer{Username: req.UserInfo.Username, GitOps: s.GitOps[req.UserInfo.Username]}
	annotations := Stamp(obj.GetAnnotations(), stored, edit, w, now())
	if maps.Equal(annotations, obj.GetAnnotations()) {
		return admission.Allowed("")
	}
	obj.SetAnnotations(annotations)
	stamped, err := json.Marshal(obj.Object)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, stamped)
}
