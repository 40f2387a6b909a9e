package api_test

import (
	"io"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	journeyv1alpha1 "github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// kubectl runs the kubectl built by hack/setup-envtest.sh against the test
// API server and returns its stdout.
func kubectl(args ...string) string {
	k := testEnv.ControlPlane.KubeCtl()
	k.Path = filepath.Join(testEnv.BinaryAssetsDirectory, "kubectl")
	stdout, stderr, err := k.Run(args...)
	errText, _ := io.ReadAll(stderr)
	Expect(err).NotTo(HaveOccurred(), "kubectl %s: %s", strings.Join(args, " "), errText)
	out, _ := io.ReadAll(stdout)
	GinkgoWriter.Printf("$ kubectl %s\n%s\n", strings.Join(args, " "), out)
	return string(out)
}

var _ = Describe("what kubectl users see", func() {
	It("registers short names, the journey category, status subresources and printer columns", func() {
		want := map[string]struct {
			short   string
			columns []string
		}{
			"touchpointsources.journey.cjm.dev": {"tps", []string{"Touchpoint", "Mode", "Schedule", "Ready", "Status", "Last Run", "Last Result", "Age"}},
			"validationrules.journey.cjm.dev":   {"vrule", []string{"Ready", "Status", "Age"}},
			"journeymaps.journey.cjm.dev":       {"jmap", []string{"Stages", "Users", "Firing", "Ready", "Status", "Last Evaluated", "Age"}},
		}
		for name, w := range want {
			var crd apiextensionsv1.CustomResourceDefinition
			Expect(k8s.Get(ctx, types.NamespacedName{Name: name}, &crd)).To(Succeed())
			Expect(crd.Spec.Scope).To(Equal(apiextensionsv1.NamespaceScoped))
			Expect(crd.Spec.Names.ShortNames).To(ConsistOf(w.short))
			Expect(crd.Spec.Names.Categories).To(ConsistOf("journey"))
			Expect(crd.Spec.Versions).To(HaveLen(1))
			v := crd.Spec.Versions[0]
			Expect(v.Subresources).NotTo(BeNil())
			Expect(v.Subresources.Status).NotTo(BeNil(), "%s has a status subresource", name)
			var cols []string
			for _, c := range v.AdditionalPrinterColumns {
				cols = append(cols, c.Name)
				if c.Name == "Ready" || c.Name == "Status" {
					Expect(c.Priority).To(BeZero(), "%s column %s shows by default", name, c.Name)
				}
			}
			Expect(cols).To(Equal(w.columns))
		}
	})

	It("lists every kind under `kubectl get journey` with their columns filled", func() {
		ns := newNamespace()
		for _, key := range []string{"TouchpointSource/billing-stripe", "ValidationRule/billing-controls", "JourneyMap/streaming-journey"} {
			Expect(k8s.Create(ctx, sample(key, ns))).To(Succeed())
		}
		// Columns the controller fills are written here through the status
		// subresource, as the controller will.
		var src journeyv1alpha1.TouchpointSource
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "billing-stripe"}, &src)).To(Succeed())
		src.Status.Mode = journeyv1alpha1.SourceModeBatch
		src.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Applied",
			Message: "CronJob billing-stripe-ingest applied", LastTransitionTime: metav1.Now()}}
		Expect(k8s.Status().Update(ctx, &src)).To(Succeed())

		out := kubectl("get", "journey", "-n", ns)
		Expect(out).To(ContainSubstring("touchpointsource.journey.cjm.dev/billing-stripe"))
		Expect(out).To(ContainSubstring("validationrule.journey.cjm.dev/billing-controls"))
		Expect(out).To(ContainSubstring("journeymap.journey.cjm.dev/streaming-journey"))

		out = kubectl("get", "tps", "-n", ns)
		header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
		Expect(header).To(Equal([]string{"NAME", "TOUCHPOINT", "MODE", "SCHEDULE", "READY", "STATUS", "LAST", "RUN", "LAST", "RESULT", "AGE"}))
		Expect(out).To(MatchRegexp(`billing-stripe\s+billing\s+Batch\s+\*/15 \* \* \* \*\s+True\s+CronJob billing-stripe-ingest applied`))
	})

	It("explains the API in kubectl explain from the Go doc comments", func() {
		out := kubectl("explain", "touchpointsource.spec.batch")
		Expect(out).To(ContainSubstring("GROUP:      journey.cjm.dev"))
		Expect(out).To(ContainSubstring("Batch pulls records on a schedule."))
		Expect(out).To(MatchRegexp(`schedule\s+<string> -required-`))
		Expect(out).To(ContainSubstring("Schedule in standard cron format"))
		Expect(out).To(MatchRegexp(`http\s+<Object>`))
		Expect(out).NotTo(ContainSubstring("<empty>"), "every field has a description")

		out = kubectl("explain", "validationrule.spec.checks.action")
		Expect(out).To(ContainSubstring("Reject > Quarantine > Warn"))
		Expect(out).To(MatchRegexp(`ENUM:\s+Reject\s+Quarantine\s+Warn`))

		out = kubectl("explain", "journeymap.spec.stages.enterWhen")
		Expect(out).To(ContainSubstring("user.sumBetween"))
	})
})

var _ = Describe("the status subresource and server-side apply", func() {
	It("keeps status out of spec writes and spec out of status writes", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, sample("ValidationRule/billing-controls", ns))).To(Succeed())
		var rule journeyv1alpha1.ValidationRule
		key := types.NamespacedName{Namespace: ns, Name: "billing-controls"}
		Expect(k8s.Get(ctx, key, &rule)).To(Succeed())
		Expect(rule.Generation).To(Equal(int64(1)))

		rule.Status.MatchedSources = []string{"billing-stripe"}
		rule.Spec.Checks = rule.Spec.Checks[:1]
		Expect(k8s.Status().Update(ctx, &rule)).To(Succeed())
		Expect(k8s.Get(ctx, key, &rule)).To(Succeed())
		Expect(rule.Status.MatchedSources).To(Equal([]string{"billing-stripe"}))
		Expect(len(rule.Spec.Checks)).To(BeNumerically(">", 1), "a status write changed spec")
		Expect(rule.Generation).To(Equal(int64(1)), "a status write bumped the generation")

		rule.Status.MatchedSources = nil
		rule.Spec.Checks[0].Message = "amount below zero"
		Expect(k8s.Update(ctx, &rule)).To(Succeed())
		Expect(k8s.Get(ctx, key, &rule)).To(Succeed())
		Expect(rule.Status.MatchedSources).To(Equal([]string{"billing-stripe"}), "a spec write changed status")
		Expect(rule.Generation).To(Equal(int64(2)))
	})

	It("merges lists of named items by name when two owners apply them", func() {
		ns := newNamespace()
		apply := func(owner, check string) {
			u := sample("ValidationRule/billing-controls", ns)
			Expect(unstructuredSetChecks(u.Object, check)).To(Succeed())
			Expect(k8s.Patch(ctx, u, client.Apply, client.FieldOwner(owner), client.ForceOwnership)).To(Succeed())
		}
		apply("platform-team", `{name: amount-non-negative, expression: "event.amount >= 0.0"}`)
		apply("finance-team", `{name: currency, acceptedValues: {key: event.currency, values: [usd]}}`)

		var rule journeyv1alpha1.ValidationRule
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "billing-controls"}, &rule)).To(Succeed())
		var names []string
		for _, c := range rule.Spec.Checks {
			names = append(names, c.Name)
		}
		Expect(names).To(ConsistOf("amount-non-negative", "currency"), "each team's check survives the other's apply")
	})
})
