package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The manager's ClusterRole and ServiceAccount for release "journey-operator".
const (
	chartManagerRole    = "journey-operator-manager"
	chartServiceAccount = "journey-operator"
)

var (
	watched = []string{"media-a", "media-b"}
	// defaults installs the chart with its own values.yaml only.
	defaults map[string]any
	// namespaceScoped installs the chart for two namespaces only.
	namespaceScoped = map[string]any{"watchNamespaces": []any{"media-a", "media-b"}}
	// monitoring turns on what the chart ships for Prometheus and Grafana,
	// with every knob of it set.
	monitoring = map[string]any{"metrics": map[string]any{
		"certSecret": "journey-metrics-cert",
		"readers":    []any{map[string]any{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}, map[string]any{"kind": "Group", "name": "sre"}},
		"service":    map[string]any{"port": 9443, "annotations": map[string]any{"example.com/scrape": "true"}},
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}, "interval": "1m", "scrapeTimeout": "20s",
			"tlsConfig": map[string]any{"serverName": "journey-operator-metrics.journey-system.svc",
				"ca": map[string]any{"secret": map[string]any{"name": "journey-metrics-cert", "key": "ca.crt"}}}},
		"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}, "alertLabels": map[string]any{"team": "platform"},
			"missedSchedules": 4, "quarantineSpike": map[string]any{"share": 0.1, "minRecords": 25}, "evaluatorStalledAfter": "2h"},
		"grafanaDashboards": map[string]any{"enabled": true, "annotations": map[string]any{"grafana_folder": "journey-operator"}, "namespace": "monitoring"},
	}}
	// plainMetrics serves /metrics over plain HTTP, scraped by ServiceMonitors.
	plainMetrics = map[string]any{"watchNamespaces": []any{"media-a"}, "metrics": map[string]any{"secure": false,
		"serviceMonitor": map[string]any{"enabled": true}}}
	// everythingElse turns every other knob of values.yaml.
	everythingElse = map[string]any{
		"image": map[string]any{
			"repository": "registry.example.com/journey-operator",
			"digest":     "sha256:" + strings.Repeat("ab", 32),
			"pullPolicy": "Always",
		},
		"imagePullSecrets": []any{map[string]any{"name": "regcred"}},
		"replicas":         2,
		"store":            map[string]any{"secretName": "media-store", "secretKey": "postgres-dsn"},
		"serviceAccount":   map[string]any{"create": false, "name": "journey-sa"},
		"rbac":             map[string]any{"aggregatedRoles": false, "reviewerRole": false},
		"metrics":          map[string]any{"service": map[string]any{"enabled": false}},
		"extraArgs":        []any{"--zap-log-level=debug"},
		"evaluatorMemory":  "2Gi",
		"retention":        map[string]any{"olderThan": "400d", "schedule": "5 2 * * 0", "storeSecret": map[string]any{"name": "retention-store"}},
		"podAnnotations":   map[string]any{"example.com/team": "platform"},
		"podLabels":        map[string]any{"example.com/tier": "control-plane"},
		"nodeSelector":     map[string]any{"kubernetes.io/os": "linux"},
		"tolerations":      []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "platform", "effect": "NoSchedule"}},
		"resources":        map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}},
		"fullnameOverride": "journey-operator",
		"gitopsIdentities": []any{"system:serviceaccount:argocd:argocd-application-controller", "gitlab-deployer"},
		"webhook": map[string]any{"port": 10443, "certManager": map[string]any{
			"enabled": true, "issuerRef": map[string]any{"kind": "ClusterIssuer", "name": "internal-ca"}}},
	}
)

// mustRender renders the chart and fails the spec on an error.
func mustRender(chrt *chart.Chart, values map[string]any) []*unstructured.Unstructured {
	objs, err := renderChart(chrt, values)
	Expect(err).NotTo(HaveOccurred(), "rendering the chart with %v", values)
	Expect(objs).NotTo(BeEmpty())
	return objs
}

var _ = Describe("the Helm chart", func() {
	var chrt *chart.Chart
	BeforeEach(func() { chrt = loadChart() })

	DescribeTable("renders objects the API server accepts (server-side apply, dry run, strict fields)",
		func(values map[string]any) {
			objs := mustRender(chrt, values)
			for _, ns := range namespacesOf(objs) {
				ensureNamespace(ns, nil)
			}
			Expect(applyDryRun(objs)).To(BeEmpty())
			Expect(ofKind(objs, "CustomResourceDefinition")).To(HaveLen(4), "the CRDs from crds/")
		},
		Entry("default values: a cluster-wide install", defaults),
		Entry("watchNamespaces: a namespace-scoped install", namespaceScoped),
		Entry("every other value set", everythingElse),
		Entry("ServiceMonitors, PrometheusRule, Grafana dashboards, a metrics certificate", monitoring),
		Entry("plain HTTP metrics, namespace-scoped ServiceMonitors", plainMetrics),
	)

	DescribeTable("runs the manager under the restricted Pod Security Standard",
		func(values map[string]any) {
			expectRestricted(managerDeployment(mustRender(chrt, values)))
		},
		Entry("default values", defaults),
		Entry("watchNamespaces", namespaceScoped),
		Entry("every other value set", everythingElse),
		Entry("a metrics certificate", monitoring),
	)

	It("grants the manager exactly the rules controller-gen generates from the RBAC markers", func() {
		want := generatedManagerRules()
		for _, values := range []map[string]any{defaults, namespaceScoped} {
			objs := mustRender(chrt, values)
			role := as[rbacv1.ClusterRole](byName(objs, "ClusterRole", chartManagerRole))
			Expect(role.Rules).To(Equal(want), "chart ClusterRole %s vs config/rbac/role.yaml (run `make manifests`)", chartManagerRole)
		}
	})

	It("refuses to render without files/manager-role.yaml, saying to run make manifests", func() {
		var kept []*chart.File
		for _, f := range chrt.Files {
			if f.Name != "files/manager-role.yaml" {
				kept = append(kept, f)
			}
		}
		Expect(kept).To(HaveLen(len(chrt.Files)-1), "the chart carries files/manager-role.yaml")
		chrt.Files = kept
		_, err := renderChart(chrt, defaults)
		Expect(err).To(MatchError(ContainSubstring("make manifests")))
	})

	It("by default binds the manager's ClusterRole cluster-wide and watches every namespace", func() {
		objs := mustRender(chrt, defaults)
		crb := as[rbacv1.ClusterRoleBinding](byName(objs, "ClusterRoleBinding", chartManagerRole))
		Expect(crb.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: chartManagerRole}))
		Expect(crb.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: chartServiceAccount, Namespace: releaseNamespace}))
		args, _ := managerContainer(managerDeployment(objs))
		Expect(args).NotTo(ContainElement(HavePrefix("--watch-namespaces")))
	})

	It("with watchNamespaces renders one RoleBinding in each watched namespace and binds nothing cluster-wide but the webhook configurations by name and the metrics reviews", func() {
		objs := mustRender(chrt, namespaceScoped)
		crbs := ofKind(objs, "ClusterRoleBinding")
		Expect(crbs).To(HaveLen(2), "a namespace-scoped install grants nothing cluster-wide but its two webhook configurations and the reviews of metrics scrapes")
		for _, o := range crbs {
			crb := as[rbacv1.ClusterRoleBinding](o)
			rules := as[rbacv1.ClusterRole](byName(objs, "ClusterRole", crb.RoleRef.Name)).Rules
			if crb.RoleRef.Name == "journey-operator-metrics-auth" {
				Expect(rules).To(Equal(metricsAuthRules), "TokenReviews and SubjectAccessReviews are cluster-scoped: only create them")
				continue
			}
			for _, rule := range rules {
				Expect(rule.APIGroups).To(ConsistOf("admissionregistration.k8s.io"))
				Expect(rule.ResourceNames).To(HaveLen(1), "each rule names its one webhook configuration")
			}
		}
		for _, ns := range watched {
			var found bool
			for _, o := range ofKind(objs, "RoleBinding") {
				rb := as[rbacv1.RoleBinding](o)
				if rb.Namespace != ns || rb.RoleRef.Name != chartManagerRole {
					continue
				}
				found = true
				Expect(rb.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: chartManagerRole}))
				Expect(rb.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: chartServiceAccount, Namespace: releaseNamespace}))
			}
			Expect(found).To(BeTrue(), "a RoleBinding to ClusterRole %s in namespace %s", chartManagerRole, ns)
		}
		args, _ := managerContainer(managerDeployment(objs))
		Expect(args).To(ContainElement("--watch-namespaces=media-a,media-b"))
		// Leader election stays in the release namespace.
		Expect(byName(objs, "Role", "journey-operator-leader-election").GetNamespace()).To(Equal(releaseNamespace))
	})

	It("passes the manager its own image and pull policy for the workloads, and the store's Secret", func() {
		args, image := managerContainer(managerDeployment(mustRender(chrt, defaults)))
		Expect(image).To(Equal("ghcr.io/cjm-dev/journey-operator:" + chrt.Metadata.AppVersion))
		Expect(args).To(HaveExactElements("manager", "--leader-elect", "--metrics-bind-address=:8443",
			"--health-probe-bind-address=:8081", "--image="+image, "--image-pull-policy=IfNotPresent",
			"--store-secret-name=journey-store", "--store-secret-key=dsn",
			"--webhook-port=9443", "--webhook-cert-secret=journey-operator-webhook-cert", "--webhook-namespace=journey-system",
			"--webhook-service=journey-operator-webhook",
			"--mutating-webhook-configuration=journey-operator-mutating-webhook-configuration",
			"--validating-webhook-configuration=journey-operator-validating-webhook-configuration"))

		args, image = managerContainer(managerDeployment(mustRender(chrt, everythingElse)))
		Expect(image).To(Equal("registry.example.com/journey-operator@sha256:" + strings.Repeat("ab", 32)))
		Expect(args).To(ContainElements("--image="+image, "--image-pull-policy=Always",
			"--store-secret-name=media-store", "--store-secret-key=postgres-dsn", "--evaluator-memory=2Gi", "--zap-log-level=debug",
			"--webhook-port=10443", "--webhook-cert-path=/tmp/k8s-webhook-server/serving-certs",
			"--gitops-identities=system:serviceaccount:argocd:argocd-application-controller,gitlab-deployer"))
	})

	It("has liveness and readiness probes on /healthz and /readyz", func() {
		d := managerDeployment(mustRender(chrt, defaults))
		c := d.Spec.Template.Spec.Containers[0]
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(c.LivenessProbe.HTTPGet.Port.String()).To(Equal("probes"))
		Expect(c.Resources.Limits).NotTo(BeEmpty())
		Expect(d.Spec.Template.Spec.ServiceAccountName).To(Equal(chartServiceAccount))
	})

	It("aggregates journey admin, editor and viewer roles into admin, edit and view, status read-only", func() {
		objs := mustRender(chrt, defaults)
		expectAggregatedRoles(objs, "journey-operator-admin", "journey-operator-editor", "journey-operator-viewer")
		Expect(ofKind(mustRender(chrt, everythingElse), "ClusterRole")).To(HaveLen(3),
			"rbac.aggregatedRoles=false and rbac.reviewerRole=false leave only the manager's and the metrics reader and reviews (with cert-manager, no webhook-configuration role)")
	})

	It("retires events by a retention policy only when asked, from a CronJob under the restricted Pod Security Standard", func() {
		Expect(ofKind(mustRender(chrt, defaults), "CronJob")).To(BeEmpty(), "no retention by default")
		objs := mustRender(chrt, everythingElse)
		cj := as[batchv1.CronJob](byName(objs, "CronJob", "journey-operator-retention"))
		Expect(cj.Spec.Schedule).To(Equal("5 2 * * 0"))
		Expect(cj.Spec.ConcurrencyPolicy).To(Equal(batchv1.ForbidConcurrent))
		tmpl := &cj.Spec.JobTemplate.Spec.Template
		c := tmpl.Spec.Containers[0]
		Expect(c.Args).To(HaveExactElements("retain", "--older-than=400d"))
		Expect(c.Image).To(Equal("registry.example.com/journey-operator@sha256:" + strings.Repeat("ab", 32)))
		Expect(c.Env).To(ContainElements(
			HaveField("ValueFrom.SecretKeyRef", And(HaveField("Name", "retention-store"), HaveField("Key", "postgres-dsn"))),
			corev1.EnvVar{Name: "JOURNEY_ACTOR", Value: "system:serviceaccount:" + releaseNamespace + ":journey-operator-retention"}))
		Expect(tmpl.Spec.ServiceAccountName).To(Equal("journey-operator-retention"))
		Expect(*tmpl.Spec.AutomountServiceAccountToken).To(BeFalse(), "journey retain talks to the store only")
		Expect(byName(objs, "ServiceAccount", "journey-operator-retention")).NotTo(BeNil())
		Expect(forbiddenByRestricted(tmpl)).To(BeEmpty())
		Expect(admitPod(tmpl)).To(Succeed())
	})

	It("has a reviewer role apart from the editor role", func() {
		expectReviewerRole(mustRender(chrt, defaults), "journey-operator-reviewer")
	})

	DescribeTable("values.schema.json refuses a bad value, naming the field",
		func(values map[string]any, field string) {
			_, err := renderChart(chrt, values)
			Expect(err).To(HaveOccurred(), "installing with %v", values)
			GinkgoWriter.Printf("helm install with %v:\n%v\n", values, err)
			Expect(err.Error()).To(ContainSubstring("values don't meet the specifications of the schema"))
			Expect(err.Error()).To(ContainSubstring(field))
		},
		Entry("replicas as a string", map[string]any{"replicas": "two"}, "at '/replicas': got string, want integer"),
		Entry("replicas below zero", map[string]any{"replicas": -1}, "at '/replicas'"),
		Entry("an unknown top-level key", map[string]any{"replicaCount": 2}, "additional properties 'replicaCount' not allowed"),
		Entry("watchNamespaces as one string", map[string]any{"watchNamespaces": "media-a,media-b"}, "at '/watchNamespaces': got string, want array"),
		Entry("a watched namespace that is not a DNS label", map[string]any{"watchNamespaces": []any{"Media_A"}}, "at '/watchNamespaces/0'"),
		Entry("an unknown pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
		Entry("a store Secret name that is not a DNS subdomain", map[string]any{"store": map[string]any{"secretName": "Store_DSN"}}, "at '/store/secretName'"),
		Entry("an empty store Secret name", map[string]any{"store": map[string]any{"secretName": ""}}, "at '/store/secretName'"),
		Entry("an unknown store key", map[string]any{"store": map[string]any{"secret": "journey-store"}}, "additional properties 'secret' not allowed"),
		Entry("a retention that is not a number of days", map[string]any{"retention": map[string]any{"olderThan": "13 months"}}, "at '/retention/olderThan'"),
		Entry("a metrics port out of range", map[string]any{"metrics": map[string]any{"service": map[string]any{"port": 70000}}}, "at '/metrics/service/port'"),
		Entry("metrics.secure as a string", map[string]any{"metrics": map[string]any{"secure": "yes"}}, "at '/metrics/secure'"),
		Entry("a metrics reader of an unknown kind", map[string]any{"metrics": map[string]any{"readers": []any{map[string]any{"kind": "Robot", "name": "x"}}}}, "at '/metrics/readers/0/kind'"),
		Entry("a service account reader without a namespace", map[string]any{"metrics": map[string]any{"readers": []any{map[string]any{"kind": "ServiceAccount", "name": "prometheus"}}}}, "at '/metrics/readers/0'"),
		Entry("a scrape interval that is not a duration", map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"interval": "30 seconds"}}}, "at '/metrics/serviceMonitor/interval'"),
		Entry("missed schedules of 1 or less", map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{"missedSchedules": 1}}}, "at '/metrics/prometheusRule/missedSchedules'"),
		Entry("a quarantine share above 1", map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{"quarantineSpike": map[string]any{"share": 5}}}}, "at '/metrics/prometheusRule/quarantineSpike/share'"),
		Entry("an unknown prometheusRule key", map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{"severity": "page"}}}, "additional properties 'severity' not allowed"),
		Entry("a dashboards namespace that is not a DNS label", map[string]any{"metrics": map[string]any{"grafanaDashboards": map[string]any{"namespace": "Monitoring"}}}, "at '/metrics/grafanaDashboards/namespace'"),
		Entry("an extra argument that is not a flag", map[string]any{"extraArgs": []any{"debug"}}, "at '/extraArgs/0'"),
		Entry("an evaluator memory that is not a quantity", map[string]any{"evaluatorMemory": "lots"}, "at '/evaluatorMemory'"),
		Entry("GitOps identities as one string", map[string]any{"gitopsIdentities": "a,b"}, "at '/gitopsIdentities': got string, want array"),
		Entry("a GitOps identity holding a comma", map[string]any{"gitopsIdentities": []any{"a,b"}}, "at '/gitopsIdentities/0'"),
		Entry("a privileged webhook port", map[string]any{"webhook": map[string]any{"port": 443}}, "at '/webhook/port'"),
		Entry("an unknown webhook key", map[string]any{"webhook": map[string]any{"certmanager": true}}, "additional properties 'certmanager' not allowed"),
		Entry("an issuer of an unknown kind", map[string]any{"webhook": map[string]any{"certManager": map[string]any{"issuerRef": map[string]any{"kind": "Vault", "name": "x"}}}}, "at '/webhook/certManager/issuerRef/kind'"),
	)

	It("ships the CRDs exactly as config/crd/bases holds them (`make manifests` copies them)", func() {
		bases, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(bases).To(HaveLen(4))
		shipped := map[string]string{}
		for _, f := range chrt.CRDObjects() {
			shipped[filepath.Base(f.Filename)] = string(f.File.Data)
		}
		Expect(shipped).To(HaveLen(len(bases)), "the chart's crds/ holds one file per CRD")
		for _, b := range bases {
			want, err := os.ReadFile(b)
			Expect(err).NotTo(HaveOccurred())
			Expect(shipped).To(HaveKeyWithValue(filepath.Base(b), string(want)), "crds/%s is stale: run `make manifests`", filepath.Base(b))
		}
	})
})

// expectAggregatedRoles checks the admin, editor and viewer ClusterRoles:
// each carries its aggregate-to label and covers the journey kinds, viewers
// read, editors also write, and status is read-only for all of them.
// QuarantineReviews are read by all, deleted by admins, created by none of
// them (only the reviewer role creates them).
func expectAggregatedRoles(objs []*unstructured.Unstructured, admin, editor, viewer string) {
	read := []string{"get", "list", "watch"}
	write := append(append([]string{}, read...), "create", "update", "patch", "delete")
	kinds := []string{"touchpointsources", "validationrules", "journeymaps"}
	for _, r := range []struct {
		name, aggregateTo  string
		verbs, reviewVerbs []string
	}{
		{admin, "admin", append(append([]string{}, write...), "deletecollection"), append(append([]string{}, read...), "delete", "deletecollection")},
		{editor, "edit", write, read},
		{viewer, "view", read, read},
	} {
		role := as[rbacv1.ClusterRole](byName(objs, "ClusterRole", r.name))
		Expect(role.Labels).To(HaveKeyWithValue("rbac.authorization.k8s.io/aggregate-to-"+r.aggregateTo, "true"), role.Name)
		kindVerbs := map[string][]string{}
		for _, rule := range role.Rules {
			Expect(rule.APIGroups).To(ConsistOf("journey.cjm.dev"), "%s only touches journey resources", role.Name)
			for _, res := range rule.Resources {
				kindVerbs[res] = append(kindVerbs[res], rule.Verbs...)
			}
		}
		for _, k := range kinds {
			Expect(kindVerbs[k]).To(ConsistOf(r.verbs), "%s on %s", role.Name, k)
			Expect(kindVerbs[k+"/status"]).To(ConsistOf("get"), "%s on %s/status is read-only", role.Name, k)
		}
		Expect(kindVerbs["quarantinereviews"]).To(ConsistOf(r.reviewVerbs), "%s on quarantinereviews", role.Name)
		Expect(kindVerbs["quarantinereviews"]).NotTo(ContainElement("create"), "%s cannot review", role.Name)
		Expect(kindVerbs["quarantinereviews/status"]).To(ConsistOf("get"), "%s on quarantinereviews/status is read-only", role.Name)
		Expect(kindVerbs).To(HaveLen(2*len(kinds)+2), fmt.Sprintf("%s covers exactly the four kinds and their status", role.Name))
	}
}

// expectReviewerRole checks the reviewer ClusterRole: not aggregated into
// any built-in role, it creates QuarantineReviews and reads what they decide
// on, and nothing else.
func expectReviewerRole(objs []*unstructured.Unstructured, name string) {
	role := as[rbacv1.ClusterRole](byName(objs, "ClusterRole", name))
	for k := range role.Labels {
		Expect(k).NotTo(HavePrefix("rbac.authorization.k8s.io/aggregate-to-"), "%s is bound explicitly, never aggregated", name)
	}
	kindVerbs := map[string][]string{}
	for _, rule := range role.Rules {
		Expect(rule.APIGroups).To(ConsistOf("journey.cjm.dev"))
		for _, res := range rule.Resources {
			kindVerbs[res] = append(kindVerbs[res], rule.Verbs...)
		}
	}
	Expect(kindVerbs).To(Equal(map[string][]string{
		"quarantinereviews":        {"create", "get", "list", "watch"},
		"touchpointsources":        {"get", "list", "watch"},
		"validationrules":          {"get", "list", "watch"},
		"quarantinereviews/status": {"get"},
		"touchpointsources/status": {"get"},
		"validationrules/status":   {"get"},
	}))
}
