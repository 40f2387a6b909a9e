package admission

import (
	"maps"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

const (
	by     = v1alpha1.LastModifiedByAnnotation
	at     = v1alpha1.LastModifiedAtAnnotation
	via    = v1alpha1.LastModifiedViaAnnotation
	author = v1alpha1.ChangeAuthorAnnotation
	argo   = "system:serviceaccount:argocd:argocd-application-controller"
)

var (
	now     = time.Date(2026, 11, 30, 9, 15, 0, 0, time.FixedZone("CET", 3600))
	nowUTC  = "2026-11-30T08:15:00Z"
	earlier = "2026-11-01T10:00:00Z"
)

func TestStamp(t *testing.T) {
	stored := map[string]string{by: "alice@example.com", at: earlier, "team": "billing"}
	storedViaGitOps := map[string]string{by: "dave@example.com", at: earlier, via: argo, author: "dave@example.com"}
	for _, tc := range []struct {
		name         string
		sent, stored map[string]string
		edit         bool
		w            Writer
		want         map[string]string
	}{
		{"a create records the writer, in UTC",
			nil, nil, true, Writer{Username: "alice@example.com"},
			map[string]string{by: "alice@example.com", at: nowUTC}},
		{"a forged editor, time and via are replaced",
			map[string]string{by: "mallory", at: "1999-01-01T00:00:00Z", via: argo}, nil, true, Writer{Username: "carol@example.com"},
			map[string]string{by: "carol@example.com", at: nowUTC}},
		{"an edit replaces the stored stamp and keeps other annotations",
			map[string]string{by: "alice@example.com", at: earlier, "team": "payments"}, stored, true, Writer{Username: "bob@example.com"},
			map[string]string{by: "bob@example.com", at: nowUTC, "team": "payments"}},
		{"a GitOps identity's change-author is the editor, the identity beside it",
			map[string]string{author: "dave@example.com"}, nil, true, Writer{Username: argo, GitOps: true},
			map[string]string{by: "dave@example.com", at: nowUTC, via: argo, author: "dave@example.com"}},
		{"a GitOps identity's change-author is trimmed",
			map[string]string{author: "  dave@example.com "}, nil, true, Writer{Username: argo, GitOps: true},
			map[string]string{by: "dave@example.com", at: nowUTC, via: argo, author: "  dave@example.com "}},
		{"a GitOps identity without change-author is the editor itself, with no via",
			map[string]string{via: "someone"}, nil, true, Writer{Username: argo, GitOps: true},
			map[string]string{by: argo, at: nowUTC}},
		{"a blank change-author from a GitOps identity counts as none",
			map[string]string{author: "  "}, nil, true, Writer{Username: argo, GitOps: true},
			map[string]string{by: argo, at: nowUTC, author: "  "}},
		{"change-author from anyone else is ignored, not stripped, and via is removed",
			map[string]string{author: "dave@example.com", via: argo}, storedViaGitOps, true, Writer{Username: "frank@example.com"},
			map[string]string{by: "frank@example.com", at: nowUTC, author: "dave@example.com"}},
		{"a non-edit keeps the stored stamp",
			map[string]string{by: "alice@example.com", at: earlier, "team": "billing"}, stored, false, Writer{Username: "operator"},
			stored},
		{"a non-edit restores a stamp the writer changed",
			map[string]string{by: "mallory", at: nowUTC, via: argo, "team": "billing"}, stored, false, Writer{Username: "mallory"},
			stored},
		{"a non-edit restores a stamp the writer dropped",
			map[string]string{"team": "billing"}, stored, false, Writer{Username: "kubectl-user"},
			stored},
		{"a non-edit keeps via from a GitOps change",
			map[string]string{author: "dave@example.com"}, storedViaGitOps, false, Writer{Username: argo, GitOps: true},
			storedViaGitOps},
		{"a non-edit of an object never stamped adds nothing and removes a forged stamp",
			map[string]string{by: "mallory"}, map[string]string{}, false, Writer{Username: "mallory"},
			map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := maps.Clone(tc.sent)
			got := Stamp(tc.sent, tc.stored, tc.edit, tc.w, now)
			if !maps.Equal(got, tc.want) {
				t.Errorf("Stamp = %v\nwant    %v", got, tc.want)
			}
			if !maps.Equal(sent, tc.sent) {
				t.Errorf("Stamp changed its input: %v, was %v", tc.sent, sent)
			}
		})
	}
}

func obj(spec map[string]any, labels, annotations map[string]string, meta map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "journey.cjm.dev/v1alpha1", "kind": "TouchpointSource",
		"metadata": map[string]any{"name": "billing-stripe", "namespace": "media"},
	}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	u.SetLabels(labels)
	u.SetAnnotations(annotations)
	for k, v := range meta {
		u.Object["metadata"].(map[string]any)[k] = v
	}
	return u
}

func TestIsEdit(t *testing.T) {
	spec := map[string]any{"touchpoint": "billing", "financial": true, "batch": map[string]any{"schedule": "*/15 * * * *"}}
	otherSpec := map[string]any{"touchpoint": "billing", "financial": true, "batch": map[string]any{"schedule": "0 * * * *"}}
	labels := map[string]string{"journey.cjm.dev/domain": "billing"}
	ann := map[string]string{by: "alice", at: earlier, "team": "billing"}
	base := obj(spec, labels, ann, nil)
	for _, tc := range []struct {
		name    string
		updated *unstructured.Unstructured
		want    bool
	}{
		{"nothing changed (a no-op sync)", obj(spec, labels, ann, nil), false},
		{"the spec changed", obj(otherSpec, labels, ann, nil), true},
		{"a label changed (it decides which rules select the source)", obj(spec, map[string]string{"journey.cjm.dev/domain": "crm"}, ann, nil), true},
		{"a label was removed", obj(spec, nil, ann, nil), true},
		{"a user annotation changed", obj(spec, labels, map[string]string{by: "alice", at: earlier, "team": "payments"}, nil), true},
		{"a user annotation was added", obj(spec, labels, map[string]string{by: "alice", at: earlier, "team": "billing", "owner": "x"}, nil), true},
		{"only the stamps changed (a forgery)", obj(spec, labels, map[string]string{by: "mallory", at: now.String(), via: argo, "team": "billing"}, nil), false},
		{"only the stamps were dropped", obj(spec, labels, map[string]string{"team": "billing"}, nil), false},
		{"only change-author changed (a commit elsewhere in the repository)", obj(spec, labels, map[string]string{by: "alice", at: earlier, "team": "billing", author: "dave"}, nil), false},
		{"only requested-at changed (a run asked for)", obj(spec, labels, map[string]string{by: "alice", at: earlier, "team": "billing", v1alpha1.RequestedAtAnnotation: "now"}, nil), false},
		{"only kubectl's last-applied copy changed", obj(spec, labels, map[string]string{by: "alice", at: earlier, "team": "billing", lastAppliedAnnotation: "{}"}, nil), false},
		{"a finalizer was added", obj(spec, labels, ann, map[string]any{"finalizers": []any{"journey.cjm.dev/cleanup"}}), false},
		{"an ownerReference was added", obj(spec, labels, ann, map[string]any{"ownerReferences": []any{map[string]any{"name": "x"}}}), false},
		{"managedFields changed", obj(spec, labels, ann, map[string]any{"managedFields": []any{map[string]any{"manager": "argocd"}}}), false},
		{"the status changed", func() *unstructured.Unstructured {
			u := obj(spec, labels, ann, nil)
			u.Object["status"] = map[string]any{"observedGeneration": int64(3)}
			return u
		}(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsEdit(base, tc.updated); got != tc.want {
				t.Errorf("IsEdit = %v, want %v", got, tc.want)
			}
		})
	}
}
