package controllers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

// billingSource is a small financial batch source.
func billingSource(ns, name string) *v1alpha1.TouchpointSource {
	return &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"journey.cjm.dev/domain": "billing"}},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "billing", System: "stripe", Financial: true,
			Batch: &v1alpha1.BatchSource{
				Schedule: "*/15 * * * *",
				HTTP:     &v1alpha1.HTTPConnector{URL: "https://billing.example.internal/v1/events"},
			},
			Mapping: v1alpha1.EventMapping{
				EventID: "record.id", UserID: "record.customer",
				OccurredAt: "timestamp(int(record.created))", Type: "record.type",
				Amount: "double(record.amount) / 100.0",
			},
		},
	}
}

func billingRule(ns, name, expression string) *v1alpha1.ValidationRule {
	return &v1alpha1.ValidationRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ValidationRuleSpec{
			SourceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"journey.cjm.dev/domain": "billing"}},
			Checks:         []v1alpha1.Check{{Name: "amount-non-negative", Expression: v1alpha1.Expression(expression), Action: v1alpha1.ActionQuarantine}},
		},
	}
}

func sourceConfig(g Gomega, ns, name string) (runconfig.Source, string) {
	var cm corev1.ConfigMap
	g.Expect(k8s.Get(ctx, key(ns, name+"-source-config"), &cm)).To(Succeed())
	var cfg runconfig.Source
	g.Expect(json.Unmarshal([]byte(cm.Data[runconfig.FileName]), &cfg)).To(Succeed())
	return cfg, cm.Annotations[render.AnnotationConfig]
}

func eventuallyReady(ns, name string) {
	Eventually(func(g Gomega) {
		src := getSource(ns, name)
		g.Expect(condition(src, "Ready")).To(HavePrefix("True/"))
		g.Expect(src.Status.ObservedGeneration).To(Equal(src.Generation))
	}, timeout).Should(Succeed())
}

// eventsFor lists the Events recorded about one object.
func eventsFor(ns, name string) []eventsv1.Event {
	var list eventsv1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// eventNotes renders the Events about one object as "Type Reason: note".
func eventNotes(ns, name string) []string {
	var out []string
	for _, e := range eventsFor(ns, name) {
		out = append(out, e.Type+" "+e.Reason+": "+e.Note)
	}
	return out
}

var _ = Describe("stalled specs", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		createSecret(ns, "journey-store", "dsn")
	})

	DescribeTable("a TouchpointSource admission cannot judge is Stalled, naming the field",
		func(edit func(*v1alpha1.TouchpointSource), want string) {
			src := billingSource(ns, "billing")
			edit(src)
			Expect(k8s.Create(ctx, src)).To(Succeed(), "admission accepts it: only the controller can tell")
			Eventually(func(g Gomega) {
				got := getSource(ns, "billing")
				g.Expect(condition(got, "Stalled")).To(ContainSubstring(want))
				g.Expect(condition(got, "Ready")).To(HavePrefix("False/InvalidSpec"))
				g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
				g.Expect(kstatusOf(got)).To(Equal(status.FailedStatus))
			}, timeout).Should(Succeed())
			var cj batchv1.CronJob
			Expect(k8s.Get(ctx, key(ns, "billing-ingest"), &cj)).NotTo(Succeed(), "nothing runs a spec that cannot work")
		},
		Entry("mapping that does not compile", func(s *v1alpha1.TouchpointSource) { s.Spec.Mapping.UserID = "recrd.customer" },
			"spec.mapping.userID: undeclared reference to 'recrd'"),
		Entry("attribute that does not compile", func(s *v1alpha1.TouchpointSource) {
			s.Spec.Mapping.Attributes = map[string]v1alpha1.Expression{"plan": "record.plan.("}
		}, "spec.mapping.attributes.plan: Syntax error"),
		Entry("minute 61 in the schedule", func(s *v1alpha1.TouchpointSource) { s.Spec.Batch.Schedule = "61 * * * *" },
			`spec.batch.schedule: "61 * * * *" is not a valid cron schedule`),
		Entry("a time zone that does not exist", func(s *v1alpha1.TouchpointSource) { s.Spec.Batch.TimeZone = ptr.To("Mars/Olympus_Mons") },
			`spec.batch.timeZone: unknown time zone "Mars/Olympus_Mons"`),
		Entry("pagination that is not a condition", func(s *v1alpha1.TouchpointSource) {
			s.Spec.Batch.HTTP.Pagination = &v1alpha1.Pagination{CursorParam: "after", NextCursor: "body.next", HasMore: "size(records)"}
		}, "spec.batch.http.pagination.hasMore: must be a condition (bool)"),
	)

	It("stalls a ValidationRule, naming each check that does not compile", func() {
		rule := billingRule(ns, "controls", "event.amount >= 0.0")
		rule.Spec.Checks = append(rule.Spec.Checks,
			v1alpha1.Check{Name: "typo", Expression: `event.usrID != ""`},
			v1alpha1.Check{Name: "unique-intent", Unique: &v1alpha1.UniqueCheck{Key: "record.payment_intent +"}})
		Expect(k8s.Create(ctx, rule)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getRule(ns, "controls")
			g.Expect(condition(got, "Stalled")).To(SatisfyAll(
				ContainSubstring(`check typo expression: event has no field "usrID"`),
				ContainSubstring("check unique-intent unique.key: Syntax error"),
				Not(ContainSubstring("amount-non-negative"))))
			g.Expect(kstatusOf(got)).To(Equal(status.FailedStatus))
		}, timeout).Should(Succeed())
	})

	It("stalls a JourneyMap, naming the stage and the alert that do not compile", func() {
		jm := &v1alpha1.JourneyMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "journey"},
			Spec: v1alpha1.JourneyMapSpec{
				Stages: []v1alpha1.Stage{
					{Name: "Trial", EnterWhen: `event.type == "trial_started"`},
					{Name: "Engaged", EnterWhen: `user.sum("playback", "minutes") >= 120.0`},
				},
				Alerts: []v1alpha1.Alert{{Name: "Low", Scope: v1alpha1.AlertScopeJourney, Expression: `user.stage == "Trial"`}},
			},
		}
		Expect(k8s.Create(ctx, jm)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getMap(ns, "journey")
			g.Expect(condition(got, "Stalled")).To(SatisfyAll(
				ContainSubstring("stage Engaged enterWhen: found no matching overload for 'sum'"),
				ContainSubstring("alert Low expression: undeclared reference to 'user'")))
			g.Expect(kstatusOf(got)).To(Equal(status.FailedStatus))
			g.Expect(got.Status.StageCount).To(Equal(int32(2)))
		}, timeout).Should(Succeed())
	})
})

var _ = Describe("changes", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		createSecret(ns, "journey-store", "dsn")
	})

	It("applies a spec change to the workload and catches observedGeneration up", func() {
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		eventuallyReady(ns, "billing")
		src := getSource(ns, "billing")
		src.Spec.Batch.Schedule = "0 * * * *"
		src.Spec.Suspend = true
		Expect(k8s.Update(ctx, src)).To(Succeed())
		Eventually(func(g Gomega) {
			var cj batchv1.CronJob
			g.Expect(k8s.Get(ctx, key(ns, "billing-ingest"), &cj)).To(Succeed())
			g.Expect(cj.Spec.Schedule).To(Equal("0 * * * *"))
			g.Expect(*cj.Spec.Suspend).To(BeTrue())
			got := getSource(ns, "billing")
			g.Expect(got.Status.ObservedGeneration).To(Equal(int64(2)))
			g.Expect(condition(got, "Ready")).To(HavePrefix("True/Suspended"))
		}, timeout).Should(Succeed())
	})

	It("re-renders the configuration of the sources a rule selects when the rule changes", func() {
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		Expect(k8s.Create(ctx, billingRule(ns, "controls", "event.amount >= 0.0"))).To(Succeed())
		var firstHash string
		Eventually(func(g Gomega) {
			var cfg runconfig.Source
			cfg, firstHash = sourceConfig(g, ns, "billing")
			g.Expect(cfg.Rules).To(HaveLen(1))
			g.Expect(cfg.Rules[0].Checks[0].Expression).To(Equal(v1alpha1.Expression("event.amount >= 0.0")))
		}, timeout).Should(Succeed())

		rule := getRule(ns, "controls")
		rule.Spec.Checks[0].Expression = "event.amount == null || event.amount >= 0.0"
		Expect(k8s.Update(ctx, rule)).To(Succeed())
		Eventually(func(g Gomega) {
			cfg, hash := sourceConfig(g, ns, "billing")
			g.Expect(cfg.Rules[0].Checks[0].Expression).To(Equal(v1alpha1.Expression("event.amount == null || event.amount >= 0.0")))
			g.Expect(hash).NotTo(Equal(firstHash))
		}, timeout).Should(Succeed())

		// Relabelled out of the selector: the rule no longer applies.
		src := getSource(ns, "billing")
		src.Labels = map[string]string{"journey.cjm.dev/domain": "analytics"}
		Expect(k8s.Update(ctx, src)).To(Succeed())
		Eventually(func(g Gomega) {
			cfg, _ := sourceConfig(g, ns, "billing")
			g.Expect(cfg.Rules).To(BeEmpty())
			g.Expect(getRule(ns, "controls").Status.MatchedSources).To(BeEmpty())
		}, timeout).Should(Succeed())
	})

	It("keeps a source on its last good configuration while a rule that selects it does not compile", func() {
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		Expect(k8s.Create(ctx, billingRule(ns, "controls", "event.amount >= 0.0"))).To(Succeed())
		var goodHash string
		Eventually(func(g Gomega) {
			var cfg runconfig.Source
			cfg, goodHash = sourceConfig(g, ns, "billing")
			g.Expect(cfg.Rules).To(HaveLen(1))
		}, timeout).Should(Succeed())
		eventuallyReady(ns, "billing")

		rule := getRule(ns, "controls")
		rule.Spec.Checks[0].Expression = "event.amount >= "
		Expect(k8s.Update(ctx, rule)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSource(ns, "billing")
			g.Expect(condition(got, "Ready")).To(SatisfyAll(
				HavePrefix("False/ValidationRuleInvalid: ValidationRule controls does not compile"),
				ContainSubstring("check amount-non-negative expression"),
				ContainSubstring("keeps running on its last good configuration")))
		}, timeout).Should(Succeed())
		Consistently(func(g Gomega) string { _, h := sourceConfig(g, ns, "billing"); return h }, 2*time.Second, 200*time.Millisecond).
			Should(Equal(goodHash), "the broken rule never reaches the workload")
		Expect(eventsFor(ns, "billing")).To(ContainElement(SatisfyAll(
			HaveField("Reason", "ValidationRuleInvalid"), HaveField("Type", corev1.EventTypeWarning))))

		// Deleting the rule lets the source run without it again.
		Expect(k8s.Delete(ctx, rule)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(getSource(ns, "billing"), "Ready")).To(HavePrefix("True/"))
			cfg, _ := sourceConfig(g, ns, "billing")
			g.Expect(cfg.Rules).To(BeEmpty())
		}, timeout).Should(Succeed())
	})

	It("starts a run now for a new requested-at value, once", func() {
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		eventuallyReady(ns, "billing")
		src := getSource(ns, "billing")
		src.Annotations = map[string]string{v1alpha1.RequestedAtAnnotation: "2026-11-23T08:00:00Z"}
		Expect(k8s.Update(ctx, src)).To(Succeed())
		var jobs batchv1.JobList
		Eventually(func(g Gomega) {
			g.Expect(k8s.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
			g.Expect(jobs.Items).To(HaveLen(1))
			g.Expect(getSource(ns, "billing").Status.LastHandledRequestedAt).To(Equal("2026-11-23T08:00:00Z"))
		}, timeout).Should(Succeed())
		job := jobs.Items[0]
		Expect(job.Name).To(HavePrefix("billing-ingest-manual-"))
		Expect(job.Annotations).To(HaveKeyWithValue(v1alpha1.RequestedAtAnnotation, "2026-11-23T08:00:00Z"))
		expectControlledBy(&job, "TouchpointSource", "billing")
		Expect(job.Spec.Template.Spec.Containers[0].Args[0]).To(Equal("ingest"))
		expectRestricted(job.Spec.Template.ObjectMeta, job.Spec.Template.Spec)
		Consistently(func() int {
			Expect(k8s.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
			return len(jobs.Items)
		}, 2*time.Second, 200*time.Millisecond).Should(Equal(1), "a handled request does not run again")
	})
})

// finishPod creates an ingest pod as the Job controller would and marks it
// finished as the kubelet would, with the termination message the ingest
// command writes.
func finishPod(ns, source, name string, exitCode int32, message string, finished time.Time) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			render.LabelManagedBy: render.ManagedBy, render.LabelSource: source, render.LabelComponent: render.ComponentIngest}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "ingest", Image: testImage}}},
	}
	Expect(k8s.Create(ctx, pod)).To(Succeed())
	phase := corev1.PodSucceeded
	if exitCode != 0 {
		phase = corev1.PodFailed
	}
	pod.Status = corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "ingest", Image: testImage, ImageID: testImage,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, Message: message, Reason: map[bool]string{true: "Completed", false: "Error"}[exitCode == 0],
			StartedAt: metav1.NewTime(finished.Add(-time.Minute)), FinishedAt: metav1.NewTime(finished),
		}},
	}}}
	Expect(k8s.Status().Update(ctx, pod)).To(Succeed())
}

var _ = Describe("run results", func() {
	It("copies each run's summary into status once, and a failed run makes the source not Ready", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		eventuallyReady(ns, "billing")

		t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
		finishPod(ns, "billing", "billing-ingest-1-abcde", 0,
			`{"id":"run-1","outcome":"Quarantined","read":1200,"accepted":1190,"duplicates":4,"quarantined":6,"rejected":0,`+
				`"amountTotal":"18234.50","amountLoaded":"18100.00","currency":"usd","cursor":"1731900000","configHash":"sha256:ab","ledgerHash":"sha256:cd"}`, t0)
		Eventually(func(g Gomega) {
			src := getSource(ns, "billing")
			g.Expect(src.Status.LastRun).NotTo(BeNil())
			g.Expect(src.Status.LastRun.ID).To(Equal("run-1"))
			g.Expect(src.Status.LastRun.Accepted).To(Equal(int64(1190)))
			g.Expect(src.Status.LastRun.AmountTotal).To(Equal("18234.50"))
			g.Expect(src.Status.Runs).To(Equal(&v1alpha1.RunCounts{Succeeded: 1}))
			g.Expect(src.Status.LastSuccessfulRunTime.Time.Equal(t0)).To(BeTrue())
			g.Expect(condition(src, "Ready")).To(ContainSubstring("last run quarantined: accepted 1190 of 1200 read, 6 quarantined for review"))
			g.Expect(condition(src, "AuditCompliant")).To(HavePrefix("True/Compliant"))
		}, timeout).Should(Succeed())

		finishPod(ns, "billing", "billing-ingest-2-fghij", 1,
			`{"id":"run-2","outcome":"Failed","message":"GET https://billing.example.internal/v1/events: 503 Service Unavailable after 5 attempts","read":0,"accepted":0,"duplicates":0,"quarantined":0,"rejected":0}`,
			t0.Add(15*time.Minute))
		finishPod(ns, "billing", "billing-ingest-3-klmno", 137, "", t0.Add(30*time.Minute))
		Eventually(func(g Gomega) {
			src := getSource(ns, "billing")
			g.Expect(src.Status.Runs).To(Equal(&v1alpha1.RunCounts{Succeeded: 1, Failed: 2}))
			g.Expect(src.Status.RecentRuns).To(HaveLen(3))
			g.Expect(src.Status.RecentRuns[0].ID).To(Equal("billing-ingest-3-klmno"), "newest first; a pod without a summary is named after the pod")
			g.Expect(src.Status.RecentRuns[1].ID).To(Equal("run-2"))
			g.Expect(condition(src, "Ready")).To(SatisfyAll(HavePrefix("False/RunFailed"),
				ContainSubstring("billing-ingest-3-klmno exited with code 137")))
			g.Expect(src.Status.ObservedGeneration).To(Equal(src.Generation))
		}, timeout).Should(Succeed())
		Eventually(func() []string { return eventNotes(ns, "billing") }, timeout).Should(SatisfyAll(
			ContainElement(SatisfyAll(HavePrefix("Normal RunSucceeded:"), ContainSubstring("accepted 1190"))),
			// Isomorphic Events fold into one series, so both failures may show as one.
			ContainElement(HavePrefix("Warning RunFailed: run ")),
			WithTransform(func(notes []string) int {
				n := 0
				for _, s := range notes {
					if strings.Contains(s, "RunSucceeded") {
						n++
					}
				}
				return n
			}, Equal(1))))

		// Counted once: another reconcile (here, a label change) recounts nothing.
		src := getSource(ns, "billing")
		src.Labels["team"] = "finance"
		Expect(k8s.Update(ctx, src)).To(Succeed())
		Consistently(func() *v1alpha1.RunCounts { return getSource(ns, "billing").Status.Runs }, 2*time.Second, 200*time.Millisecond).
			Should(Equal(&v1alpha1.RunCounts{Succeeded: 1, Failed: 2}))
	})
})

var _ = Describe("a stale feed", func() {
	It("is a Warning naming the check, and Ready says the last run was stale", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		eventuallyReady(ns, "billing")
		finishPod(ns, "billing", "billing-ingest-1-stale", 0,
			`{"id":"run-1","outcome":"Stale","message":"check freshness failed: newest event 30h old, limit 24h","read":266,"accepted":266,"duplicates":0,"quarantined":0,"rejected":0}`,
			time.Now().Add(-time.Minute).Truncate(time.Second))
		Eventually(func(g Gomega) {
			src := getSource(ns, "billing")
			g.Expect(src.Status.Runs).To(Equal(&v1alpha1.RunCounts{Succeeded: 1}), "a stale run committed what it read")
			g.Expect(condition(src, "Ready")).To(SatisfyAll(HavePrefix("True/"),
				ContainSubstring("last run stale: accepted 266 of 266 read (check freshness failed: newest event 30h old, limit 24h)")))
		}, timeout).Should(Succeed())
		Eventually(func() []string { return eventNotes(ns, "billing") }, timeout).Should(
			ContainElement(SatisfyAll(HavePrefix("Warning RunStale: run run-1 stale"), ContainSubstring("newest event 30h old"))))
	})
})

var _ = Describe("a missing Secret", func() {
	It("makes the source not Ready, naming it, and the source recovers once it appears", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		src := billingSource(ns, "billing")
		src.Spec.Batch.HTTP.AuthSecretRef = &v1alpha1.SecretKeyRef{Name: "stripe-api", Key: "token"}
		Expect(k8s.Create(ctx, src)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSource(ns, "billing")
			g.Expect(condition(got, "Ready")).To(HavePrefix(`False/SecretMissing: Secret "stripe-api" not found in namespace ` + ns))
			g.Expect(condition(got, "Reconciling")).To(HavePrefix("True/ProgressingWithRetry"))
			g.Expect(kstatusOf(got)).To(Equal(status.InProgressStatus))
		}, timeout).Should(Succeed())
		createSecret(ns, "stripe-api", "token")
		eventuallyReady(ns, "billing")
	})

	It("does the same for a JourneyMap's notification token", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		jm := &v1alpha1.JourneyMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "journey"},
			Spec: v1alpha1.JourneyMapSpec{
				Stages: []v1alpha1.Stage{{Name: "Subscribed", EnterWhen: `event.type == "invoice.paid"`}},
				Notify: &v1alpha1.Notify{Webhooks: []v1alpha1.WebhookTarget{{URL: "https://hooks.example.internal/j", SecretRef: &v1alpha1.SecretKeyRef{Name: "hook", Key: "token"}}}},
			},
		}
		Expect(k8s.Create(ctx, jm)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(getMap(ns, "journey"), "Ready")).To(HavePrefix(`False/SecretMissing: Secret "hook" not found`))
		}, timeout).Should(Succeed())
		createSecret(ns, "hook", "token")
		Eventually(func(g Gomega) {
			markAvailable(g, ns, "journey-evaluator")
			g.Expect(condition(getMap(ns, "journey"), "Ready")).To(HavePrefix("True/Applied"))
		}, timeout).Should(Succeed())
	})
})

var _ = Describe("at rest", func() {
	It("writes nothing: no status, workload or ConfigMap changes once everything is reconciled", func() {
		ns := newNamespace()
		applySamples(ns)
		Eventually(func(g Gomega) {
			for _, name := range []string{"billing-stripe-webhook-receiver", "survey-responses-receiver", "app-events-receiver", "streaming-journey-evaluator"} {
				markAvailable(g, ns, name)
			}
			var list v1alpha1.TouchpointSourceList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			for i := range list.Items {
				g.Expect(condition(&list.Items[i], "Ready")).To(HavePrefix("True/"), list.Items[i].Name)
			}
			g.Expect(condition(getMap(ns, "streaming-journey"), "Ready")).To(HavePrefix("True/"))
		}, timeout).Should(Succeed())

		// Watch every kind the operator writes, from now on.
		lists := []client.ObjectList{
			&v1alpha1.TouchpointSourceList{}, &v1alpha1.ValidationRuleList{}, &v1alpha1.JourneyMapList{},
			&corev1.ConfigMapList{}, &batchv1.CronJobList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{},
			&appsv1.DeploymentList{}, &rbacv1.RoleList{}, &rbacv1.RoleBindingList{}, &policyv1.PodDisruptionBudgetList{},
		}
		versions := func() map[string]string {
			out := map[string]string{}
			for _, l := range lists {
				Expect(k8s.List(ctx, l, client.InNamespace(ns))).To(Succeed())
				items, err := testutil.MetaItems(l)
				Expect(err).NotTo(HaveOccurred())
				for _, o := range items {
					out[fmt.Sprintf("%T/%s", l, o.GetName())] = o.GetResourceVersion()
				}
			}
			return out
		}
		// Let in-flight reconciles settle, then nothing may change.
		time.Sleep(2 * time.Second)
		before := versions()
		Expect(len(before)).To(BeNumerically(">", 20))
		Consistently(versions, 10*time.Second, time.Second).Should(Equal(before), "an object was written at rest: a hot loop")
	})
})
