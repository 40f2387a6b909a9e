package admission

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// ReviewGate is the validating webhook that admits a QuarantineReview only
// from a reviewer of its source who changed neither the source nor any rule
// selecting it. It reads them live, not from a cache: an edit made a moment
// ago must count.
type ReviewGate struct {
	// Reader reads from the API server (the manager's APIReader).
	Reader  client.Reader
	decoder admission.Decoder
}

var _ admission.Handler = &ReviewGate{}

// NewReviewGate returns the gate reading through reader.
func NewReviewGate(scheme *runtime.Scheme, reader client.Reader) *ReviewGate {
	return &ReviewGate{Reader: reader, decoder: admission.NewDecoder(scheme)}
}

// Handle decides one create.
func (g *ReviewGate) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("")
	}
	review := &v1alpha1.QuarantineReview{}
	if err := g.decoder.Decode(req, review); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	ns := req.Namespace
	r := ReviewRequest{
		Namespace:   ns,
		SourceName:  review.Spec.Source,
		RequestedBy: review.Spec.RequestedBy,
		Username:    req.UserInfo.Username,
		Groups:      req.UserInfo.Groups,
	}
	source := &v1alpha1.TouchpointSource{}
	switch err := g.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: review.Spec.Source}, source); {
	case err == nil:
		r.Source = source
	case apierrors.IsNotFound(err):
	default:
		// Fail closed: without the source there is no decision.
		return admission.Errored(http.StatusServiceUnavailable,
			fmt.Errorf("reading TouchpointSource %s/%s: %w", ns, review.Spec.Source, err))
	}
	if r.Source != nil {
		rules := &v1alpha1.ValidationRuleList{}
		if err := g.Reader.List(ctx, rules, client.InNamespace(ns)); err != nil {
			return admission.Errored(http.StatusServiceUnavailable,
				fmt.Errorf("listing the ValidationRules of namespace %s: %w", ns, err))
		}
		r.Rules = rules.Items
	}
	if why := ReviewRefusal(r); why != "" {
		return admission.Denied(why)
	}
	return admission.Allowed("")
}
