package controllers_test

import (
	"encoding/json"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
)

// runReport is an ingest pod's termination message.
func runReport(id string, q *v1alpha1.QuarantineStatus, edit func(*v1alpha1.RunSummary)) string {
	rep := runconfig.RunReport{RunSummary: v1alpha1.RunSummary{ID: id, Outcome: v1alpha1.RunQuarantined, Read: 10, Accepted: 7,
		Duplicates: 1, Quarantined: 2, AmountTotal: "100.00", AmountLoaded: "70.00", AmountDuplicates: "10.00",
		AmountQuarantined: "20.00", AmountRejected: "0.00", LedgerHash: "sha256:" + id}, Quarantine: q}
	if edit != nil {
		edit(&rep.RunSummary)
	}
	b, err := json.Marshal(rep)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

func pending(n int64, oldest, asOf time.Time) *v1alpha1.QuarantineStatus {
	return &v1alpha1.QuarantineStatus{Pending: n, OldestPendingTime: &metav1.Time{Time: oldest}, AsOf: &metav1.Time{Time: asOf},
		ByCheck: []v1alpha1.CheckPending{{Check: "amount-non-negative", Pending: n, OldestPendingTime: &metav1.Time{Time: oldest}}}}
}

var _ = Describe("AuditCompliant", func() {
	It("names what is wrong: no reviewers, a review overdue, an unbalanced run, a broken ledger; and recovers after a review", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		src := billingSource(ns, "billing")
		Expect(k8s.Create(ctx, src)).To(Succeed())
		eventuallyReady(ns, "billing")
		now := time.Now().Truncate(time.Second)

		// Records pending and nobody may review them.
		finishPod(ns, "billing", "billing-ingest-1-aaaaa", 0, runReport("run-1", pending(2, now.Add(-time.Hour), now.Add(-50*time.Minute)), nil), now.Add(-50*time.Minute))
		Eventually(func(g Gomega) {
			g.Expect(condition(getSource(ns, "billing"), "AuditCompliant")).To(Equal(
				"False/NoReviewers: 2 records pending review and nobody may review them: set spec.compliance.reviewers.groups"))
		}, timeout).Should(Succeed())

		// With reviewers, a short reviewWithin makes the same records overdue.
		Eventually(func() error {
			s := getSource(ns, "billing")
			s.Spec.Compliance = &v1alpha1.Compliance{Reviewers: &v1alpha1.Reviewers{Groups: []string{"finance-controllers"}},
				ReviewWithin: &metav1.Duration{Duration: 30 * time.Minute}}
			return k8s.Update(ctx, s)
		}, timeout).Should(Succeed())
		Eventually(func(g Gomega) {
			s := getSource(ns, "billing")
			g.Expect(condition(s, "AuditCompliant")).To(Equal(
				"False/ReviewOverdue: 2 records pending for more than 30m0s, oldest 1h (amount-non-negative 2)"))
			g.Expect(s.Status.Quarantine.Pending).To(Equal(int64(2)))
			g.Expect(metricValue("journey_quarantine_pending_records", "source", "billing", "namespace", ns)).To(Equal(2.0))
			g.Expect(metricValue("journey_quarantine_pending_records_by_check", "source", "billing", "check", "amount-non-negative")).To(Equal(2.0))
			g.Expect(metricValue("journey_quarantine_oldest_pending_timestamp_seconds", "source", "billing", "namespace", ns)).To(
				Equal(float64(now.Add(-time.Hour).Unix())))
		}, timeout).Should(Succeed())
		Expect(eventNotes(ns, "billing")).To(ContainElement(ContainSubstring("run run-1 quarantined: read 10, accepted 7, duplicates 1, quarantined 2, rejected 0; ledger sha256:run-1")))

		// A completed review reports what the source holds after it.
		rev := &v1alpha1.QuarantineReview{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rel-1"}, Spec: v1alpha1.QuarantineReviewSpec{
			Source: "billing", Decision: v1alpha1.DecisionRelease, Reason: "credit notes confirmed with AR",
			Selection: v1alpha1.QuarantineSelection{Checks: []string{"amount-non-negative"}}, RequestedBy: "carol@example.com"}}
		Expect(k8s.Create(ctx, rev)).To(Succeed())
		finishReviewPod(ns, "rel-1", runconfig.ReviewReport{Outcome: "Succeeded", QuarantineReviewStatus: v1alpha1.QuarantineReviewStatus{
			Matched: 2, Released: 2, AmountReleased: "-9.50", Currency: "usd", Reviewer: "carol@example.com", LedgerHash: "sha256:rev",
			CompletionTime: &metav1.Time{Time: now}, OldestRecordTime: &metav1.Time{Time: now.Add(-time.Hour)},
			SourceQuarantine: &v1alpha1.QuarantineStatus{Pending: 0, AsOf: &metav1.Time{Time: now}}}})
		Eventually(func(g Gomega) {
			s := getSource(ns, "billing")
			g.Expect(condition(s, "AuditCompliant")).To(HavePrefix("True/Compliant: run run-1 is in the audit ledger (sha256:run-1) and balances"))
			g.Expect(s.Status.Quarantine.Pending).To(BeZero())
			g.Expect(metricValue("journey_quarantine_pending_records", "source", "billing", "namespace", ns)).To(BeZero())
			g.Expect(metricValue("journey_quarantine_reviews_total", "source", "billing", "decision", "Release")).To(Equal(1.0))
			g.Expect(metricValue("journey_quarantine_time_to_resolve_seconds", "source", "billing", "decision", "Release")).To(Equal(3600.0),
				"the histogram's sum: one review whose oldest record waited an hour")
		}, timeout).Should(Succeed())

		// A run that does not balance in amounts, then one after which the
		// chain did not verify.
		finishPod(ns, "billing", "billing-ingest-2-bbbbb", 0, runReport("run-2", nil, func(r *v1alpha1.RunSummary) { r.AmountLoaded = "75.00" }), now.Add(time.Second))
		Eventually(func(g Gomega) {
			g.Expect(condition(getSource(ns, "billing"), "AuditCompliant")).To(Equal("False/Unbalanced: run run-2 does not balance: " +
				"read amounts of 100.00, but loaded 75.00 + duplicates 10.00 + quarantined 20.00 + rejected 0.00 = 105.00"))
		}, timeout).Should(Succeed())
		finishPod(ns, "billing", "billing-ingest-3-ccccc", 0, runReport("run-3", nil, func(r *v1alpha1.RunSummary) {
			r.LedgerProblem = "audit ledger broken at entry 4: stored hash does not match its content"
		}), now.Add(2*time.Second))
		Eventually(func(g Gomega) {
			s := getSource(ns, "billing")
			g.Expect(condition(s, "AuditCompliant")).To(HavePrefix("False/LedgerBroken: after run run-3 the audit ledger did not verify: audit ledger broken at entry 4"))
			g.Expect(kstatusOf(s)).To(Equal(status.CurrentStatus), "AuditCompliant is evidence, not readiness")
		}, timeout).Should(Succeed())
	})
})

// finishReviewPod creates a review pod as the Job controller would and
// marks it finished with the result `journey review` writes.
func finishReviewPod(ns, review string, rep runconfig.ReviewReport) {
	msg, err := json.Marshal(rep)
	Expect(err).NotTo(HaveOccurred())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: review + "-review-" + fmt.Sprint(time.Now().UnixNano()%100000), Labels: map[string]string{
			render.LabelManagedBy: render.ManagedBy, render.LabelReview: review, render.LabelComponent: render.ComponentReview}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "review", Image: testImage}}},
	}
	Expect(k8s.Create(ctx, pod)).To(Succeed())
	exit := int32(0)
	if rep.Outcome != "Succeeded" {
		exit = 1
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "review", Image: testImage, ImageID: testImage,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Message: string(msg), Reason: "Completed",
			StartedAt: metav1.Now(), FinishedAt: metav1.Now()}},
	}}}
	Expect(k8s.Status().Update(ctx, pod)).To(Succeed())
}

func getReview(ns, name string) *v1alpha1.QuarantineReview {
	var r v1alpha1.QuarantineReview
	Expect(k8s.Get(ctx, key(ns, name), &r)).To(Succeed())
	return &r
}

var _ = Describe("QuarantineReview", func() {
	review := func(ns, name, source string) *v1alpha1.QuarantineReview {
		return &v1alpha1.QuarantineReview{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.QuarantineReviewSpec{
			Source: source, Decision: v1alpha1.DecisionDiscard, Reason: "duplicate charges refunded in Stripe (FIN-232)",
			Selection: v1alpha1.QuarantineSelection{RunIDs: []string{"run-1"}}, RequestedBy: "dave@example.com"}}
	}

	It("runs the decision as a restricted Job against the source's store and copies its result into status, once", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		eventuallyReady(ns, "billing")
		Expect(k8s.Create(ctx, review(ns, "dis-1", "billing"))).To(Succeed())

		var job batchv1.Job
		Eventually(func() error { return k8s.Get(ctx, key(ns, "dis-1-review"), &job) }, timeout).Should(Succeed())
		c := job.Spec.Template.Spec.Containers[0]
		Expect(c.Args).To(Equal([]string{"review", "--config", "/etc/journey/config.json"}))
		Expect(c.Image).To(Equal(testImage))
		Expect(c.Env[0].ValueFrom.SecretKeyRef.Name).To(Equal("journey-store"))
		Expect(job.Spec.Template.Spec.ServiceAccountName).To(Equal("billing-source"))
		Expect(*job.Spec.Template.Spec.AutomountServiceAccountToken).To(BeFalse())
		expectRestricted(job.Spec.Template.ObjectMeta, job.Spec.Template.Spec)
		expectControlledBy(&job, "QuarantineReview", "dis-1")
		var cm corev1.ConfigMap
		Expect(k8s.Get(ctx, key(ns, "dis-1-review-config"), &cm)).To(Succeed())
		var cfg runconfig.Review
		Expect(json.Unmarshal([]byte(cm.Data[runconfig.FileName]), &cfg)).To(Succeed())
		Expect(cfg.Spec.RequestedBy).To(Equal("dave@example.com"))
		Expect(cfg.ReviewID()).To(Equal(ns + "/dis-1/" + string(getReview(ns, "dis-1").UID)))
		Eventually(func(g Gomega) {
			g.Expect(condition(getReview(ns, "dis-1"), "Reconciling")).To(HavePrefix("True/ReviewRunning"))
			g.Expect(kstatusOf(getReview(ns, "dis-1"))).To(Equal(status.InProgressStatus))
		}, timeout).Should(Succeed())

		finishReviewPod(ns, "dis-1", runconfig.ReviewReport{Outcome: "Succeeded", QuarantineReviewStatus: v1alpha1.QuarantineReviewStatus{
			Matched: 3, Discarded: 3, AmountDiscarded: "42.00", Currency: "usd", Reviewer: "dave@example.com", LedgerHash: "sha256:dis",
			CompletionTime: &metav1.Time{Time: time.Now()}}})
		Eventually(func(g Gomega) {
			r := getReview(ns, "dis-1")
			g.Expect(condition(r, "Ready")).To(Equal("True/Reviewed: discarded 3 of 3 matched records; amount 42.00 usd; decided by dave@example.com, ledger entry sha256:dis"))
			g.Expect(r.Status.LedgerHash).To(Equal("sha256:dis"))
			g.Expect(r.Status.Discarded).To(Equal(int64(3)))
			g.Expect(kstatusOf(r)).To(Equal(status.CurrentStatus))
		}, timeout).Should(Succeed())
		Eventually(func() []string { return eventNotes(ns, "dis-1") }, timeout).Should(ContainElements(
			HavePrefix("Normal ReviewRunning: started Job dis-1-review to discard"), HavePrefix("Normal Reviewed: discarded 3 of 3")))
	})

	It("is Stalled with a reason when it cannot run: no requester recorded, no such source, not financial, a Job that gave up", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		plain := billingSource(ns, "plain")
		plain.Spec.Financial = false
		Expect(k8s.Create(ctx, plain)).To(Succeed())

		unadmitted := review(ns, "no-requester", "billing")
		unadmitted.Spec.RequestedBy = ""
		for _, c := range []struct {
			rev  *v1alpha1.QuarantineReview
			want string
		}{
			{unadmitted, "True/NotAdmitted: spec.requestedBy is empty"},
			{review(ns, "no-source", "gone"), "True/SourceNotFound: TouchpointSource " + ns + "/gone does not exist"},
			{review(ns, "not-financial", "plain"), "True/SourceNotFinancial: TouchpointSource " + ns + "/plain is not financial"},
		} {
			Expect(k8s.Create(ctx, c.rev)).To(Succeed())
			Eventually(func(g Gomega) {
				r := getReview(ns, c.rev.Name)
				g.Expect(condition(r, "Stalled")).To(HavePrefix(c.want))
				g.Expect(kstatusOf(r)).To(Equal(status.FailedStatus))
			}, timeout).Should(Succeed(), c.rev.Name)
		}

		Expect(k8s.Create(ctx, review(ns, "fails", "billing"))).To(Succeed())
		var job batchv1.Job
		Eventually(func() error { return k8s.Get(ctx, key(ns, "fails-review"), &job) }, timeout).Should(Succeed())
		finishReviewPod(ns, "fails", runconfig.ReviewReport{Outcome: "Failed", Message: "open PostgreSQL store: connection refused"})
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: metav1.Now()},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: metav1.Now()}}
		job.Status.StartTime = &metav1.Time{Time: time.Now().Add(-time.Minute)}
		Expect(k8s.Status().Update(ctx, &job)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(getReview(ns, "fails"), "Stalled")).To(Equal("True/ReviewFailed: Job fails-review gave up: " +
				"open PostgreSQL store: connection refused; nothing was changed: create a new QuarantineReview once the cause is fixed"))
		}, timeout).Should(Succeed())
	})

	It("writes nothing once a review is done", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		Expect(k8s.Create(ctx, review(ns, "done", "billing"))).To(Succeed())
		Eventually(func() error { var j batchv1.Job; return k8s.Get(ctx, key(ns, "done-review"), &j) }, timeout).Should(Succeed())
		finishReviewPod(ns, "done", runconfig.ReviewReport{Outcome: "Succeeded", QuarantineReviewStatus: v1alpha1.QuarantineReviewStatus{
			Matched: 1, Discarded: 1, Reviewer: "dave@example.com", LedgerHash: "sha256:x", CompletionTime: &metav1.Time{Time: time.Now()}}})
		Eventually(func() string { return condition(getReview(ns, "done"), "Ready") }, timeout).Should(HavePrefix("True/Reviewed"))
		rv := getReview(ns, "done").ResourceVersion
		// Another pod of the Job reports, and the Job changes: nothing moves.
		finishReviewPod(ns, "done", runconfig.ReviewReport{Outcome: "Succeeded", Repeated: true, QuarantineReviewStatus: v1alpha1.QuarantineReviewStatus{
			Matched: 1, Discarded: 1, Reviewer: "dave@example.com", LedgerHash: "sha256:x", CompletionTime: &metav1.Time{Time: time.Now()}}})
		Consistently(func() string { return getReview(ns, "done").ResourceVersion }, 2*time.Second, 200*time.Millisecond).Should(Equal(rv))
	})
})

// metricValue reads a series from the manager's registry (the one its
// /metrics serves): a gauge's or counter's value, a histogram's sum; -1
// when no series has those labels.
func metricValue(name string, labels ...string) float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Histogram != nil:
				return m.GetHistogram().GetSampleSum()
			}
		}
	}
	return -1
}
