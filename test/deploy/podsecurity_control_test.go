package deploy_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// A check that cannot fail proves nothing: weaken the manager's pod and see
// both the library and the API server refuse it.
var _ = Describe("the restricted Pod Security check", func() {
	It("refuses the manager's pod once its security context is weakened", func() {
		tmpl := managerDeployment(mustRender(loadChart(), defaults)).Spec.Template.DeepCopy()
		tmpl.Spec.SecurityContext.SeccompProfile = nil
		tmpl.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		tmpl.Spec.Containers[0].SecurityContext.Capabilities = nil
		Expect(forbiddenByRestricted(tmpl)).To(ContainElements(
			HavePrefix("allowPrivilegeEscalation != false"),
			HavePrefix("unrestricted capabilities"),
			HavePrefix("seccompProfile"),
		))
		err := admitPod(tmpl)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "PodSecurity admission forbids it: %v", err)
		Expect(err.Error()).To(ContainSubstring("restricted"))
	})
})
