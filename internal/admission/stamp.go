package admission

import (
	"maps"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// stamps are the annotations only admission writes.
var stamps = []string{
	v1alpha1.LastModifiedByAnnotation,
	v1alpha1.LastModifiedAtAnnotation,
	v1alpha1.LastModifiedViaAnnotation,
}

// Writer is who sends a create or update, as the API server authenticated
// them.
type Writer struct {
	// Username is the request's userInfo.username.
	Username string
	// GitOps is true when Username is one of the configured GitOps
	// identities (journey manager --gitops-identities).
	GitOps bool
}

// Stamp returns the annotations an object is stored with, given the ones
// the writer sent (sent), the stored object's (stored, nil on create),
// whether the write is an edit (always on create; IsEdit on update) and
// the time. Whatever the writer put in the stamps is replaced:
//   - an edit records the writer, or, from a GitOps identity with a
//     non-empty change-author, that author and the identity beside it
//     (last-modified-via); from anyone else change-author is left as sent
//     and means nothing;
//   - anything else keeps the stored stamps exactly, restoring any the
//     writer changed or dropped.
func Stamp(sent, stored map[string]string, edit bool, w Writer, now time.Time) map[string]string {
	out := maps.Clone(sent)
	if out == nil {
		out = map[string]string{}
	}
	if !edit {
		for _, k := range stamps {
			if v, ok := stored[k]; ok {
				out[k] = v
			} else {
				delete(out, k)
			}
		}
		return out
	}
	by, via := w.Username, ""
	if author := strings.TrimSpace(sent[v1alpha1.ChangeAuthorAnnotation]); w.GitOps && author != "" {
		by, via = author, w.Username
	}
	out[v1alpha1.LastModifiedByAnnotation] = by
	out[v1alpha1.LastModifiedAtAnnotation] = now.UTC().Format(time.RFC3339)
	if via != "" {
		out[v1alpha1.LastModifiedViaAnnotation] = via
	} else {
		delete(out, v1alpha1.LastModifiedViaAnnotation)
	}
	return out
}
