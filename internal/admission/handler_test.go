package admission

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func request(op admissionv1.Operation, user, subresource string, obj, old map[string]any) admission.Request {
	raw := func(m map[string]any) runtime.RawExtension {
		if m == nil {
			return runtime.RawExtension{}
		}
		b, _ := json.Marshal(m)
		return runtime.RawExtension{Raw: b}
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: op, SubResource: subresource, Namespace: "media",
		UserInfo: authenticationv1.UserInfo{Username: user},
		Object:   raw(obj), OldObject: raw(old),
	}}
}

func sourceJSON(annotations map[string]any, schedule string) map[string]any {
	meta := map[string]any{"name": "billing-stripe", "namespace": "media"}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	return map[string]any{"apiVersion": "journey.cjm.dev/v1alpha1", "kind": "TouchpointSource", "metadata": meta,
		"spec": map[string]any{"touchpoint": "billing", "batch": map[string]any{"schedule": schedule}}}
}

// paths lists the JSON pointers a response patches.
func paths(t *testing.T, r admission.Response) []string {
	t.Helper()
	if !r.Allowed {
		t.Fatalf("refused: %v", r.Result)
	}
	var out []string
	for _, p := range r.Patches {
		out = append(out, p.Operation+" "+p.Path)
	}
	return out
}

func TestStamperPatchesOnlyTheStamps(t *testing.T) {
	s := &Stamper{Now: func() time.Time { return now }}
	r := s.Handle(context.Background(), request(admissionv1.Create, "alice@example.com", "",
		sourceJSON(map[string]any{by: "mallory"}, "*/15 * * * *"), nil))
	got := paths(t, r)
	want := map[string]bool{"replace /metadata/annotations/journey.cjm.dev~1last-modified-by": true,
		"add /metadata/annotations/journey.cjm.dev~1last-modified-at": true}
	if len(got) != len(want) {
		t.Fatalf("patch %v; want %v", got, want)
	}
	for _, p := range got {
		if !want[p] {
			t.Errorf("unexpected patch %s", p)
		}
	}
	for _, p := range r.Patches {
		if p.Path == "/metadata/annotations/journey.cjm.dev~1last-modified-by" && p.Value != "alice@example.com" {
			t.Errorf("last-modified-by patched to %v", p.Value)
		}
	}
}

func TestStamperLeavesANoOpUpdateAlone(t *testing.T) {
	stored := sourceJSON(map[string]any{by: "alice@example.com", at: earlier}, "*/15 * * * *")
	s := &Stamper{}
	if got := paths(t, s.Handle(context.Background(), request(admissionv1.Update, "bob@example.com", "", stored, stored))); len(got) != 0 {
		t.Errorf("a no-op update was patched: %v", got)
	}
	if got := paths(t, s.Handle(context.Background(), request(admissionv1.Update, "bob@example.com", "status", stored, stored))); len(got) != 0 {
		t.Errorf("a status write was patched: %v", got)
	}
}

func TestRequestedBy(t *testing.T) {
	review := map[string]any{"apiVersion": "journey.cjm.dev/v1alpha1", "kind": "QuarantineReview",
		"metadata": map[string]any{"name": "r"}, "spec": map[string]any{"source": "billing-stripe", "requestedBy": "mallory"}}
	r := RequestedBy{}.Handle(context.Background(), request(admissionv1.Create, "dave@example.com", "", review, nil))
	if got := paths(t, r); len(got) != 1 || got[0] != "replace /spec/requestedBy" || r.Patches[0].Value != "dave@example.com" {
		t.Errorf("create: patches %v; want requestedBy replaced by dave@example.com", r.Patches)
	}
	if r := (RequestedBy{}).Handle(context.Background(), request(admissionv1.Update, "dave@example.com", "", review, review)); !r.Allowed || len(r.Patches) != 0 {
		t.Errorf("update: %v; want allowed untouched (the CRD keeps the spec)", r.Patches)
	}
}
