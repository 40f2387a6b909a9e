package admission_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

const (
	byKey     = v1alpha1.LastModifiedByAnnotation
	atKey     = v1alpha1.LastModifiedAtAnnotation
	viaKey    = v1alpha1.LastModifiedViaAnnotation
	authorKey = v1alpha1.ChangeAuthorAnnotation
)

// stampedAt parses last-modified-at and checks it lies in [from, now].
func expectStampedBetween(u *unstructured.Unstructured, from time.Time) time.Time {
	GinkgoHelper()
	raw := u.GetAnnotations()[atKey]
	at, err := time.Parse(time.RFC3339, raw)
	Expect(err).NotTo(HaveOccurred(), "%s is RFC 3339: %q", atKey, raw)
	Expect(raw).To(HaveSuffix("Z"), "%s is in UTC", atKey)
	Expect(at).To(BeTemporally(">=", from.Truncate(time.Second)))
	Expect(at).To(BeTemporally("<=", time.Now().Add(time.Second)))
	return at
}

// stamps returns the three stamp annotations of an object, absent ones "".
func stamps(u *unstructured.Unstructured) [3]string {
	a := u.GetAnnotations()
	return [3]string{a[byKey], a[atKey], a[viaKey]}
}

// withAnnotations returns a copy of u with annotations set (value "" removes).
func withAnnotations(u *unstructured.Unstructured, kv ...string) *unstructured.Unstructured {
	c := u.DeepCopy()
	a := c.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(a, kv[i])
		} else {
			a[kv[i]] = kv[i+1]
		}
	}
	c.SetAnnotations(a)
	return c
}

var _ = Describe("editor stamps", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	// createAs creates doc as user and returns the stored object.
	createAs := func(user, doc string, annotations ...string) *unstructured.Unstructured {
		GinkgoHelper()
		u := withAnnotations(manifest(doc, ns), annotations...)
		Expect(as[user].Create(ctx, u)).To(Succeed(), "%s creates %s %s", user, u.GetKind(), u.GetName())
		return get(u.GetKind(), ns, u.GetName())
	}
	// updateAs reads the object, changes it and updates it as user,
	// again when the operator's status write got in between.
	updateAs := func(user string, u *unstructured.Unstructured, change func(*unstructured.Unstructured)) *unstructured.Unstructured {
		GinkgoHelper()
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			fresh := get(u.GetKind(), ns, u.GetName())
			change(fresh)
			return as[user].Update(ctx, fresh)
		})).To(Succeed(), "%s updates %s %s", user, u.GetKind(), u.GetName())
		return get(u.GetKind(), ns, u.GetName())
	}
	// annotate returns a change setting annotations ("" removes).
	annotate := func(kv ...string) func(*unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) { u.SetAnnotations(withAnnotations(u, kv...).GetAnnotations()) }
	}
	schedule := func(cron string) func(*unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(u.Object, cron, "spec", "batch", "schedule")).To(Succeed())
		}
	}

	It("records the real username and the time, in UTC, on create of each kind", func() {
		start := time.Now()
		for _, doc := range []string{sourceYAML("catalog", "catalog"), ruleYAML("billing-controls", "billing"), mapYAML("streaming")} {
			u := createAs(alice, doc)
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, alice), "%s %s", u.GetKind(), u.GetName())
			Expect(u.GetAnnotations()).NotTo(HaveKey(viaKey))
			expectStampedBetween(u, start)
		}
	})

	It("replaces a forged editor, time and via on create", func() {
		start := time.Now()
		u := createAs(bob, sourceYAML("catalog", "catalog"),
			byKey, "mallory@example.com", atKey, "1999-01-01T00:00:00Z", viaKey, argo)
		Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, bob))
		Expect(u.GetAnnotations()).NotTo(HaveKey(viaKey))
		expectStampedBetween(u, start)
	})

	It("records who changed the spec, a label or an annotation of theirs, replacing a forged stamp", func() {
		u := createAs(alice, sourceYAML("billing-stripe", "billing"))

		start := time.Now()
		u = updateAs(bob, u, func(u *unstructured.Unstructured) {
			annotate(byKey, alice, atKey, "2001-01-01T00:00:00Z")(u)
			schedule("0 * * * *")(u)
		})
		Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, bob), "a spec change is an edit, and a forged stamp does not stick")
		expectStampedBetween(u, start)

		u = updateAs(carol, u, func(u *unstructured.Unstructured) {
			u.SetLabels(map[string]string{"journey.cjm.dev/domain": "payments"})
		})
		Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, carol), "a label change is an edit: labels decide which rules select a source")

		u = updateAs(frank, u, annotate("example.com/owner", "payments-team"))
		Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, frank), "an annotation of the user's is configuration")
	})

	It("keeps the stamp through updates that change nothing a user configures, restoring a forged or dropped one", func() {
		u := createAs(alice, ruleYAML("billing-controls", "billing"))
		kept := stamps(u)

		By("an update sending the object back unchanged (a no-op sync)")
		Expect(stamps(updateAs(bob, u, func(*unstructured.Unstructured) {}))).To(Equal(kept))

		By("an update forging only the stamps")
		Expect(stamps(updateAs(bob, u, annotate(byKey, bob, atKey, time.Now().UTC().Format(time.RFC3339), viaKey, argo)))).To(Equal(kept))

		By("an update dropping the stamps")
		Expect(stamps(updateAs(bob, u, annotate(byKey, "", atKey, "")))).To(Equal(kept))

		By("a run asked for with requested-at")
		Expect(stamps(updateAs(bob, u, annotate(v1alpha1.RequestedAtAnnotation, time.Now().Format(time.RFC3339Nano))))).To(Equal(kept))

		By("metadata writes such as the operator's: a finalizer added and removed")
		Expect(stamps(updateAs(bob, u, func(u *unstructured.Unstructured) { u.SetFinalizers([]string{"example.com/hold"}) }))).To(Equal(kept))
		Expect(stamps(updateAs(bob, u, func(u *unstructured.Unstructured) { u.SetFinalizers(nil) }))).To(Equal(kept))
	})

	It("does not restamp on status writes, the operator's or anyone's", func() {
		u := createAs(alice, sourceYAML("billing-stripe", "billing"))
		kept := stamps(u)
		// The operator reconciles and writes status (here: SecretMissing,
		// as no store Secret exists).
		Eventually(func() []any {
			c, _, _ := unstructured.NestedSlice(get("TouchpointSource", ns, "billing-stripe").Object, "status", "conditions")
			return c
		}, 30*time.Second).ShouldNot(BeEmpty())
		u = get("TouchpointSource", ns, "billing-stripe")
		Expect(stamps(u)).To(Equal(kept), "the operator's status writes are not edits")

		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			u := get("TouchpointSource", ns, "billing-stripe")
			Expect(unstructured.SetNestedField(u.Object, "written by hand", "status", "lastHandledRequestedAt")).To(Succeed())
			return admin.Status().Update(ctx, u)
		})).To(Succeed())
		Expect(stamps(get("TouchpointSource", ns, "billing-stripe"))).To(Equal(kept))
	})

	Context("GitOps", func() {
		// apply server-side applies a manifest as fieldManager, as Argo CD does.
		apply := func(user string, u *unstructured.Unstructured) *unstructured.Unstructured {
			GinkgoHelper()
			u = u.DeepCopy()
			u.SetManagedFields(nil)
			u.SetResourceVersion("")
			Expect(as[user].Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
				client.FieldOwner("argocd-controller"), client.ForceOwnership)).To(Succeed(), "%s applies %s", user, u.GetName())
			return get(u.GetKind(), ns, u.GetName())
		}

		It("records a GitOps identity's change-author as the editor, the identity as via, and only on an edit", func() {
			start := time.Now()
			desired := withAnnotations(manifest(sourceYAML("billing-stripe", "billing"), ns), authorKey, dave)
			u := apply(argo, desired)
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, dave))
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(viaKey, argo))
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(authorKey, dave))
			expectStampedBetween(u, start)
			kept := stamps(u)

			By("a no-op sync of the same manifest")
			Expect(stamps(apply(argo, desired))).To(Equal(kept))

			By("a sync of a later commit that did not touch this object (only change-author moved)")
			Expect(stamps(apply(argo, withAnnotations(desired, authorKey, erin)))).To(Equal(kept))

			By("a sync of a commit that changed it")
			changed := withAnnotations(desired, authorKey, alice)
			Expect(unstructured.SetNestedField(changed.Object, "0 * * * *", "spec", "batch", "schedule")).To(Succeed())
			u = apply(argo, changed)
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, alice))
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(viaKey, argo))
		})

		It("ignores change-author from anyone else, without stripping it, and removes via", func() {
			desired := withAnnotations(manifest(sourceYAML("billing-stripe", "billing"), ns), authorKey, dave)
			u := apply(argo, desired)
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(viaKey, argo))

			u = updateAs(frank, u, schedule("5 * * * *"))
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, frank))
			Expect(u.GetAnnotations()).NotTo(HaveKey(viaKey))
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(authorKey, dave), "change-author is ignored, not stripped")

			u = createAs(frank, ruleYAML("billing-controls", "billing"), authorKey, dave, viaKey, argo)
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, frank))
			Expect(u.GetAnnotations()).NotTo(HaveKey(viaKey))
		})

		It("records a GitOps identity without a change-author as the editor itself", func() {
			u := apply(argo, manifest(mapYAML("streaming"), ns))
			Expect(u.GetAnnotations()).To(HaveKeyWithValue(byKey, argo))
			Expect(u.GetAnnotations()).NotTo(HaveKey(viaKey))
		})
	})
})
