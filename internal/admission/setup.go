// Package admission decides, inside the API server's admission chain, who
// changed a journey resource and who may review a source's quarantine: the
// pure decisions (IsEdit, Stamp, ReviewRefusal) and the controller-runtime
// handlers serving them. docs/admission.md says why these are webhooks and
// not admission policies.
package admission

import (
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Paths the webhook server serves; config/webhook/manifests.yaml (generated
// from the markers below) points the API server at them.
const (
	StampPath       = "/mutate-journey-cjm-dev-v1alpha1-editor"
	RequestedByPath = "/mutate-journey-cjm-dev-v1alpha1-quarantinereview"
	ReviewGatePath  = "/validate-journey-cjm-dev-v1alpha1-quarantinereview"
)

// Every webhook fails closed (failurePolicy=fail): a write that was not
// stamped, or a review that was not checked, is refused rather than let
// through. The rules name the main resources, so status writes never reach
// the stamps. reinvocationPolicy=IfNeeded re-runs the mutations when a later
// webhook changes the object, so nothing after them can forge a stamp.
//
// +kubebuilder:webhookconfiguration:mutating=true,name=mutating-webhook-configuration
// +kubebuilder:webhookconfiguration:mutating=false,name=validating-webhook-configuration
// +kubebuilder:webhook:path=/mutate-journey-cjm-dev-v1alpha1-editor,mutating=true,failurePolicy=fail,sideEffects=None,timeoutSeconds=5,reinvocationPolicy=IfNeeded,groups=journey.cjm.dev,resources=touchpointsources;validationrules;journeymaps,verbs=create;update,versions=v1alpha1,name=editors.journey.cjm.dev,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/mutate-journey-cjm-dev-v1alpha1-quarantinereview,mutating=true,failurePolicy=fail,sideEffects=None,timeoutSeconds=5,reinvocationPolicy=IfNeeded,groups=journey.cjm.dev,resources=quarantinereviews,verbs=create,versions=v1alpha1,name=requestedby.journey.cjm.dev,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-journey-cjm-dev-v1alpha1-quarantinereview,mutating=false,failurePolicy=fail,sideEffects=None,timeoutSeconds=10,groups=journey.cjm.dev,resources=quarantinereviews,verbs=create,versions=v1alpha1,name=four-eyes.journey.cjm.dev,admissionReviewVersions=v1

// The review gate reads the source and the rules live.
// +kubebuilder:rbac:groups=journey.cjm.dev,resources=touchpointsources,verbs=get
// +kubebuilder:rbac:groups=journey.cjm.dev,resources=validationrules,verbs=list

// Options configure the webhooks.
type Options struct {
	// GitOpsIdentities are the usernames (e.g. Argo CD's application
	// controller's service account) whose journey.cjm.dev/change-author
	// annotation names the editor.
	GitOpsIdentities []string
}

// Setup registers the webhooks with the manager's webhook server.
func Setup(mgr ctrl.Manager, o Options) {
	gitops := map[string]bool{}
	for _, id := range o.GitOpsIdentities {
		if id = strings.TrimSpace(id); id != "" {
			gitops[id] = true
		}
	}
	srv := mgr.GetWebhookServer()
	srv.Register(StampPath, &webhook.Admission{Handler: &Stamper{GitOps: gitops}})
	srv.Register(RequestedByPath, &webhook.Admission{Handler: RequestedBy{}})
	srv.Register(ReviewGatePath, &webhook.Admission{Handler: NewReviewGate(mgr.GetScheme(), mgr.GetAPIReader())})
}
