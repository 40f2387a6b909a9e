package api_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	journeyv1alpha1 "github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/audit"
	"github.com/cjm-dev/journey-operator/internal/cmd/cmdtest"
)

// The API server keeps the ledger hashes runs and reviews reported, out of
// reach of whoever can write the store: `journey audit verify --kubeconfig`
// checks the chain holds every one of them.
var _ = Describe("journey audit verify --kubeconfig", func() {
	It("finds every ledger hash the cluster recorded in the chain, and names one that is not", func() {
		ns := newNamespace()
		dir := GinkgoT().TempDir()
		dsn := "sqlite://" + filepath.Join(dir, "journey.db")
		head := cmdtest.Fill(GinkgoT(), dsn)

		src := &journeyv1alpha1.TouchpointSource{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "billing-stripe"},
			Spec: journeyv1alpha1.TouchpointSourceSpec{Touchpoint: "billing", Financial: true,
				Batch:   &journeyv1alpha1.BatchSource{Schedule: "@hourly", File: &journeyv1alpha1.FileConnector{Path: "/x", Format: "JSONLines"}},
				Mapping: journeyv1alpha1.EventMapping{EventID: "record.id", UserID: "record.u", OccurredAt: "timestamp(record.t)", Type: "record.type"}},
		}
		Expect(k8s.Create(ctx, src)).To(Succeed())
		src.Status.LastRun = &journeyv1alpha1.RunSummary{ID: "run-1", Outcome: journeyv1alpha1.RunQuarantined, LedgerHash: head}
		Expect(k8s.Status().Update(ctx, src)).To(Succeed())

		user, err := testEnv.AddUser(envtest.User{Name: "auditor", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		path := filepath.Join(dir, "kubeconfig")
		Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())

		var out bytes.Buffer
		Expect(audit.Run(context.Background(), []string{"verify", "--store", dsn, "--kubeconfig", path, "--namespace", ns}, &out)).To(Succeed())
		Expect(out.String()).To(ContainSubstring("1 anchor(s) recorded outside the store are in the chain"))

		// A review whose entry the store no longer holds (its chain was
		// rewritten, or this is another store): verification fails, naming it.
		rev := &journeyv1alpha1.QuarantineReview{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rel-1"},
			Spec: journeyv1alpha1.QuarantineReviewSpec{Source: "billing-stripe", Decision: "Release", Reason: "credit notes confirmed",
				Selection: journeyv1alpha1.QuarantineSelection{Checks: []string{"amount-non-negative"}}, RequestedBy: "carol@example.com"}}
		Expect(k8s.Create(ctx, rev)).To(Succeed())
		rev.Status.LedgerHash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
		Expect(k8s.Status().Update(ctx, rev)).To(Succeed())
		out.Reset()
		err = audit.Run(context.Background(), []string{"verify", "--store", dsn, "--kubeconfig", path, "--namespace", ns}, &out)
		Expect(errors.Is(err, audit.ErrBroken)).To(BeTrue(), "%v", err)
		Expect(out.String()).To(ContainSubstring("anchor sha256:0000000000000000000000000000000000000000000000000000000000000000 is not in the chain"))
	})
})
