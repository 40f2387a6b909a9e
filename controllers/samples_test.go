package controllers_test

import (
	"encoding/json"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

// markAvailable does what the deployment controller and kubelet would: there
// is no kubelet in envtest, so pods never start. The operator may re-render
// the Deployment meanwhile (a new generation), so callers poll with it.
func markAvailable(g Gomega, ns, name string) {
	var dep appsv1.Deployment
	g.Expect(k8s.Get(ctx, key(ns, name), &dep)).To(Succeed())
	n := ptr.Deref(dep.Spec.Replicas, 1)
	if dep.Status.ObservedGeneration == dep.Generation && dep.Status.AvailableReplicas == n {
		return
	}
	dep.Status = appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
			Reason: "MinimumReplicasAvailable", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	g.Expect(k8s.Status().Update(ctx, &dep)).To(Succeed())
}

// expectControlledBy asserts the ownerReference that makes deletion cascade.
func expectControlledBy(obj client.Object, kind, name string) {
	refs := obj.GetOwnerReferences()
	Expect(refs).To(HaveLen(1), "%s has one owner", obj.GetName())
	Expect(refs[0].APIVersion).To(Equal(v1alpha1.GroupVersion.String()))
	Expect(refs[0].Kind).To(Equal(kind))
	Expect(refs[0].Name).To(Equal(name))
	Expect(*refs[0].Controller).To(BeTrue())
	Expect(*refs[0].BlockOwnerDeletion).To(BeTrue())
	Expect(obj.GetLabels()).To(HaveKeyWithValue(render.LabelManagedBy, render.ManagedBy))
}

func expectRestricted(meta metav1.ObjectMeta, spec corev1.PodSpec) {
	v, err := testutil.RestrictedViolations(meta, spec)
	Expect(err).NotTo(HaveOccurred())
	Expect(v).To(BeEmpty(), "the pod meets the restricted Pod Security Standard")
	for _, c := range spec.Containers {
		Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceCPU))
		Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceMemory))
		Expect(c.Resources.Limits).To(HaveKey(corev1.ResourceMemory))
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
	}
}

var _ = Describe("the samples, reconciled", Ordered, func() {
	var ns string
	BeforeAll(func() {
		ns = newNamespace()
		applySamples(ns)
	})

	It("runs the Stripe billing source as a restricted ingest CronJob configured with both rules", func() {
		var cj batchv1.CronJob
		Eventually(func() error { return k8s.Get(ctx, key(ns, "billing-stripe-ingest"), &cj) }, timeout).Should(Succeed())
		expectControlledBy(&cj, "TouchpointSource", "billing-stripe")
		Expect(cj.Labels).To(HaveKeyWithValue(render.LabelSource, "billing-stripe"))
		Expect(cj.Spec.Schedule).To(Equal("*/15 * * * *"))
		Expect(*cj.Spec.TimeZone).To(Equal("Etc/UTC"))
		Expect(cj.Spec.ConcurrencyPolicy).To(Equal(batchv1.ForbidConcurrent))
		Expect(cj.Spec.StartingDeadlineSeconds).NotTo(BeNil())
		Expect(cj.Spec.SuccessfulJobsHistoryLimit).NotTo(BeNil())
		Expect(cj.Spec.FailedJobsHistoryLimit).NotTo(BeNil())
		Expect(*cj.Spec.Suspend).To(BeFalse())
		job := cj.Spec.JobTemplate.Spec
		Expect(job.BackoffLimit).NotTo(BeNil())
		Expect(job.ActiveDeadlineSeconds).NotTo(BeNil())
		pod := job.Template
		expectRestricted(pod.ObjectMeta, pod.Spec)
		Expect(pod.Labels).To(HaveKeyWithValue(render.LabelSource, "billing-stripe"))
		Expect(pod.Spec.ServiceAccountName).To(Equal("billing-stripe-source"))
		Expect(*pod.Spec.AutomountServiceAccountToken).To(BeFalse())
		c := pod.Spec.Containers[0]
		Expect(c.Image).To(Equal(testImage))
		Expect(c.Args).To(Equal([]string{"ingest", "--config", runconfig.Path()}))
		Expect(c.TerminationMessagePolicy).To(Equal(corev1.TerminationMessageFallbackToLogsOnError))
		// The store DSN comes from its Secret as an env reference; the
		// operator never reads it.
		Expect(c.Env).To(ContainElement(SatisfyAll(
			HaveField("Name", runconfig.StoreDSNEnv),
			HaveField("ValueFrom.SecretKeyRef.Name", "journey-store"),
			HaveField("ValueFrom.SecretKeyRef.Key", "dsn"))))
		// The API token is mounted from its Secret, only the key referenced.
		Expect(pod.Spec.Volumes).To(ContainElement(SatisfyAll(
			HaveField("Secret.SecretName", "stripe-api"),
			HaveField("Secret.Items", ConsistOf(corev1.KeyToPath{Key: "token", Path: "token"})))))
		Expect(c.VolumeMounts).To(ContainElement(HaveField("MountPath", runconfig.SecretsDir+"/stripe-api")))

		var sa corev1.ServiceAccount
		Expect(k8s.Get(ctx, key(ns, "billing-stripe-source"), &sa)).To(Succeed())
		expectControlledBy(&sa, "TouchpointSource", "billing-stripe")
		Expect(*sa.AutomountServiceAccountToken).To(BeFalse())

		// Rules may reach the cache after the source: the rule watch
		// re-renders the configuration, so wait for both to be in it.
		var cm corev1.ConfigMap
		var cfg runconfig.Source
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, key(ns, "billing-stripe-source-config"), &cm)).To(Succeed())
			g.Expect(json.Unmarshal([]byte(cm.Data[runconfig.FileName]), &cfg)).To(Succeed())
			var ruleNames []string
			for _, r := range cfg.Rules {
				ruleNames = append(ruleNames, r.Name)
			}
			g.Expect(ruleNames).To(Equal([]string{"billing-controls", "identity-controls"}))
		}, timeout).Should(Succeed())
		expectControlledBy(&cm, "TouchpointSource", "billing-stripe")
		Expect(cfg.Name).To(Equal("billing-stripe"))
		Expect(cfg.Spec.Mapping.EventID).To(Equal(v1alpha1.Expression("record.id")))
		Expect(cm.Annotations[render.AnnotationConfig]).To(HavePrefix("sha256:"))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, key(ns, "billing-stripe-ingest"), &cj)).To(Succeed())
			g.Expect(cj.Spec.JobTemplate.Spec.Template.Annotations[render.AnnotationConfig]).To(Equal(cm.Annotations[render.AnnotationConfig]),
				"a configuration change rolls the workload")
		}, timeout).Should(Succeed())
	})

	It("reports the batch source Ready, kstatus Current, with its workload and AuditCompliant", func() {
		Eventually(func(g Gomega) {
			src := getSource(ns, "billing-stripe")
			g.Expect(condition(src, "Ready")).To(HavePrefix("True/Applied: CronJob billing-stripe-ingest runs on"))
			g.Expect(src.Status.ObservedGeneration).To(Equal(src.Generation))
			g.Expect(kstatusOf(src)).To(Equal(status.CurrentStatus))
			g.Expect(src.Status.Mode).To(Equal(v1alpha1.SourceModeBatch))
			g.Expect(src.Status.Workload).To(Equal(&v1alpha1.WorkloadReference{Kind: "CronJob", Name: "billing-stripe-ingest"}))
			g.Expect(condition(src, "AuditCompliant")).To(HavePrefix("Unknown/NoRunYet"))
			g.Expect(condition(src, "Reconciling")).To(Equal("absent"))
			g.Expect(condition(src, "Stalled")).To(Equal("absent"))
		}, timeout).Should(Succeed())
		Expect(condition(getSource(ns, "support-tickets"), "AuditCompliant")).To(Equal("absent"), "only financial sources")
	})

	It("runs the Stripe webhook as a receiver Deployment + Service, Ready once available", func() {
		var dep appsv1.Deployment
		Eventually(func() error { return k8s.Get(ctx, key(ns, "billing-stripe-webhook-receiver"), &dep) }, timeout).Should(Succeed())
		expectControlledBy(&dep, "TouchpointSource", "billing-stripe-webhook")
		expectRestricted(dep.Spec.Template.ObjectMeta, dep.Spec.Template.Spec)
		Expect(dep.Spec.Template.Spec.Containers[0].Args[0]).To(Equal("receive"))
		// Both signing secrets (rotation) are mounted from one Secret.
		Expect(dep.Spec.Template.Spec.Volumes).To(ContainElement(SatisfyAll(
			HaveField("Secret.SecretName", "stripe-whsec"),
			HaveField("Secret.Items", ConsistOf(
				corev1.KeyToPath{Key: "current", Path: "current"}, corev1.KeyToPath{Key: "previous", Path: "previous"})))))
		var svc corev1.Service
		Eventually(func() error { return k8s.Get(ctx, key(ns, "billing-stripe-webhook-receiver"), &svc) }, timeout).Should(Succeed())
		expectControlledBy(&svc, "TouchpointSource", "billing-stripe-webhook")
		Expect(svc.Spec.Selector).To(Equal(dep.Spec.Selector.MatchLabels))

		Eventually(func(g Gomega) {
			src := getSource(ns, "billing-stripe-webhook")
			g.Expect(condition(src, "Reconciling")).To(ContainSubstring("waiting for Deployment billing-stripe-webhook-receiver"))
			g.Expect(kstatusOf(src)).To(Equal(status.InProgressStatus))
		}, timeout).Should(Succeed())

		Eventually(func(g Gomega) {
			markAvailable(g, ns, "billing-stripe-webhook-receiver")
			src := getSource(ns, "billing-stripe-webhook")
			g.Expect(condition(src, "Ready")).To(HavePrefix("True/Applied: receiver Deployment"))
			g.Expect(kstatusOf(src)).To(Equal(status.CurrentStatus))
			g.Expect(src.Status.Workload).To(Equal(&v1alpha1.WorkloadReference{
				Kind: "Deployment", Name: "billing-stripe-webhook-receiver", Service: "billing-stripe-webhook-receiver"}))
		}, timeout).Should(Succeed())
	})

	It("compiles the rules and lists the sources each applies to", func() {
		Eventually(func(g Gomega) {
			rule := getRule(ns, "billing-controls")
			g.Expect(condition(rule, "Ready")).To(HavePrefix("True/Compiled: 9 checks compile; applied to 2 sources"))
			g.Expect(rule.Status.MatchedSources).To(Equal([]string{"billing-stripe", "billing-stripe-webhook"}))
			g.Expect(kstatusOf(rule)).To(Equal(status.CurrentStatus))
			identity := getRule(ns, "identity-controls")
			g.Expect(identity.Status.MatchedSources).To(Equal([]string{
				"billing-stripe", "billing-stripe-webhook", "catalog-views", "playback-sessions", "support-tickets", "survey-responses"}))
		}, timeout).Should(Succeed())
	})

	It("runs the journey map's evaluator with a Role limited to its own status", func() {
		var dep appsv1.Deployment
		Eventually(func() error { return k8s.Get(ctx, key(ns, "streaming-journey-evaluator"), &dep) }, timeout).Should(Succeed())
		expectControlledBy(&dep, "JourneyMap", "streaming-journey")
		expectRestricted(dep.Spec.Template.ObjectMeta, dep.Spec.Template.Spec)
		Expect(dep.Spec.Template.Spec.Containers[0].Args[0]).To(Equal("evaluate"))
		Expect(dep.Spec.Template.Spec.ServiceAccountName).To(Equal("streaming-journey-evaluator"))

		var role rbacv1.Role
		Expect(k8s.Get(ctx, key(ns, "streaming-journey-evaluator"), &role)).To(Succeed())
		expectControlledBy(&role, "JourneyMap", "streaming-journey")
		Expect(role.Rules).To(ConsistOf(
			rbacv1.PolicyRule{APIGroups: []string{"journey.cjm.dev"}, Resources: []string{"journeymaps"}, ResourceNames: []string{"streaming-journey"}, Verbs: []string{"get"}},
			rbacv1.PolicyRule{APIGroups: []string{"journey.cjm.dev"}, Resources: []string{"journeymaps/status"}, ResourceNames: []string{"streaming-journey"}, Verbs: []string{"get", "patch"}},
		))
		var rb rbacv1.RoleBinding
		Expect(k8s.Get(ctx, key(ns, "streaming-journey-evaluator"), &rb)).To(Succeed())
		Expect(rb.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "streaming-journey-evaluator", Namespace: ns}))

		var cm corev1.ConfigMap
		Expect(k8s.Get(ctx, key(ns, "streaming-journey-journey-config"), &cm)).To(Succeed())
		var cfg runconfig.Journey
		Expect(json.Unmarshal([]byte(cm.Data[runconfig.FileName]), &cfg)).To(Succeed())
		Expect(cfg.Sources).To(HaveLen(8), "every sample source carries the product label")
		Expect(cfg.Spec.Stages).To(HaveLen(6))

		Eventually(func(g Gomega) {
			markAvailable(g, ns, "streaming-journey-evaluator")
			jm := getMap(ns, "streaming-journey")
			g.Expect(condition(jm, "Ready")).To(HavePrefix("True/Applied: evaluator streaming-journey-evaluator is available; 6 stages over 8 sources"))
			g.Expect(jm.Status.StageCount).To(Equal(int32(6)))
			g.Expect(jm.Status.ObservedGeneration).To(Equal(jm.Generation))
			g.Expect(kstatusOf(jm)).To(Equal(status.CurrentStatus))
		}, timeout).Should(Succeed())
	})
})
