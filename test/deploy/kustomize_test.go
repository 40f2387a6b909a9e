package deploy_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
)

var _ = Describe("config/default, the kustomize install", func() {
	It("builds objects the API server accepts (server-side apply, dry run, strict fields)", func() {
		objs := buildKustomize()
		Expect(namespacesOf(objs)).To(ConsistOf("journey-system"), "everything namespaced lands in journey-system")
		ns := byName(objs, "Namespace", "journey-system")
		Expect(ns.GetLabels()).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
		ensureNamespace("journey-system", nil)
		Expect(applyDryRun(objs)).To(BeEmpty())
		Expect(ofKind(objs, "CustomResourceDefinition")).To(HaveLen(4))
	})

	It("runs the manager under the restricted Pod Security Standard", func() {
		expectRestricted(managerDeployment(buildKustomize()))
	})

	It("grants the manager exactly the rules controller-gen generates, cluster-wide", func() {
		objs := buildKustomize()
		role := as[rbacv1.ClusterRole](byName(objs, "ClusterRole", "journey-operator-manager-role"))
		Expect(role.Rules).To(Equal(generatedManagerRules()))
		crb := as[rbacv1.ClusterRoleBinding](byName(objs, "ClusterRoleBinding", "journey-operator-manager-rolebinding"))
		Expect(crb.RoleRef.Name).To(Equal(role.Name))
		Expect(crb.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "journey-operator-controller-manager", Namespace: "journey-system"}))
	})

	It("passes the manager its own image", func() {
		args, image := managerContainer(managerDeployment(buildKustomize()))
		Expect(image).To(Equal("ghcr.io/cjm-dev/journey-operator:dev"))
		Expect(args).To(ContainElement("--image=" + image))
	})

	It("aggregates journey admin, editor and viewer roles into admin, edit and view, status read-only", func() {
		expectAggregatedRoles(buildKustomize(), "journey-operator-admin-role", "journey-operator-editor-role", "journey-operator-viewer-role")
	})

	It("has a reviewer role apart from the editor role", func() {
		expectReviewerRole(buildKustomize(), "journey-operator-reviewer-role")
	})
})
