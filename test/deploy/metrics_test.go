package deploy_test

import (
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

var (
	// metricsAuthRules let the manager ask the API server about each scrape.
	metricsAuthRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}
	// metricsReaderRules may scrape the manager.
	metricsReaderRules = []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
)

// expectMetricsRBAC checks that the manager's account may create the
// reviews of each scrape, cluster-wide, and that the reader role may GET
// /metrics and nothing else.
func expectMetricsRBAC(objs []*unstructured.Unstructured, authRole, authBinding, reader string, manager rbacv1.Subject) {
	Expect(as[rbacv1.ClusterRole](byName(objs, "ClusterRole", authRole)).Rules).To(Equal(metricsAuthRules))
	crb := as[rbacv1.ClusterRoleBinding](byName(objs, "ClusterRoleBinding", authBinding))
	Expect(crb.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: authRole}))
	Expect(crb.Subjects).To(ConsistOf(manager))
	Expect(as[rbacv1.ClusterRole](byName(objs, "ClusterRole", reader)).Rules).To(Equal(metricsReaderRules))
}

var _ = Describe("the manager's metrics in the chart", func() {
	var chrt *chart.Chart
	BeforeEach(func() { chrt = loadChart() })

	It("serves /metrics over HTTPS behind the API server's authentication and authorisation, by default", func() {
		objs := mustRender(chrt, defaults)
		args, _ := managerContainer(managerDeployment(objs))
		Expect(args).To(ContainElement("--metrics-bind-address=:8443"))
		Expect(args).NotTo(ContainElement(HavePrefix("--metrics-secure")), "secure is the manager's default")
		Expect(containerPort(managerDeployment(objs), "metrics")).To(Equal(int32(8443)))
		svc := as[corev1.Service](byName(objs, "Service", "journey-operator-metrics"))
		Expect(svc.Spec.Ports).To(HaveExactElements(HaveField("Name", "https")))
		Expect(svc.Spec.Ports[0].Port).To(Equal(int32(8443)))
		Expect(svc.Spec.Ports[0].TargetPort.String()).To(Equal("metrics"))
		expectMetricsRBAC(objs, "journey-operator-metrics-auth", "journey-operator-metrics-auth", "journey-operator-metrics-reader",
			rbacv1.Subject{Kind: "ServiceAccount", Name: chartServiceAccount, Namespace: releaseNamespace})
		for _, o := range ofKind(objs, "ClusterRoleBinding") {
			Expect(o.GetName()).NotTo(Equal("journey-operator-metrics-reader"), "without metrics.readers nobody is bound to read")
		}
		Expect(ofKind(objs, "ServiceMonitor")).To(BeEmpty())
		Expect(ofKind(objs, "PrometheusRule")).To(BeEmpty())
		for _, cm := range ofKind(objs, "ConfigMap") {
			Expect(cm.GetName()).NotTo(ContainSubstring("dashboard"))
		}
	})

	It("with metrics.secure=false serves plain HTTP and grants no reviews", func() {
		objs := mustRender(chrt, plainMetrics)
		args, _ := managerContainer(managerDeployment(objs))
		Expect(args).To(ContainElements("--metrics-bind-address=:8080", "--metrics-secure=false"))
		Expect(containerPort(managerDeployment(objs), "metrics")).To(Equal(int32(8080)))
		Expect(as[corev1.Service](byName(objs, "Service", "journey-operator-metrics")).Spec.Ports[0].Name).To(Equal("http"))
		for _, o := range append(ofKind(objs, "ClusterRole"), ofKind(objs, "ClusterRoleBinding")...) {
			Expect(o.GetName()).NotTo(HaveSuffix("-metrics-auth"))
		}
		manager := byName(objs, "ServiceMonitor", "journey-operator-manager")
		ep := endpoints(manager)[0]
		Expect(ep).To(SatisfyAll(HaveKeyWithValue("port", "http"), HaveKeyWithValue("scheme", "http"), Not(HaveKey("bearerTokenFile"))))
		evaluators := byName(objs, "ServiceMonitor", "journey-operator-evaluators")
		Expect(evaluators.Object).To(HaveKeyWithValue("spec", HaveKeyWithValue("namespaceSelector",
			map[string]any{"matchNames": []any{"media-a"}})), "evaluators are scraped in the watched namespaces only")
	})

	It("mounts metrics.certSecret, binds metrics.readers, and scrapes the manager with a token and the certificate's CA", func() {
		objs := mustRender(chrt, monitoring)
		d := managerDeployment(objs)
		args, _ := managerContainer(d)
		Expect(args).To(ContainElement("--metrics-cert-path=/tmp/k8s-metrics-server/metrics-certs"))
		Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(SatisfyAll(HaveField("Name", "metrics-cert"),
			HaveField("VolumeSource.Secret.SecretName", "journey-metrics-cert"))))
		Expect(d.Spec.Template.Spec.Containers[0].VolumeMounts).To(ContainElement(corev1.VolumeMount{
			Name: "metrics-cert", MountPath: "/tmp/k8s-metrics-server/metrics-certs", ReadOnly: true}))
		readers := as[rbacv1.ClusterRoleBinding](byName(objs, "ClusterRoleBinding", "journey-operator-metrics-reader"))
		Expect(readers.RoleRef.Name).To(Equal("journey-operator-metrics-reader"))
		Expect(readers.Subjects).To(ConsistOf(
			rbacv1.Subject{Kind: "ServiceAccount", Name: "prometheus-k8s", Namespace: "monitoring"},
			rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "sre"}))

		manager := byName(objs, "ServiceMonitor", "journey-operator-manager")
		Expect(manager.GetLabels()).To(HaveKeyWithValue("release", "kube-prometheus-stack"))
		spec := manager.Object["spec"].(map[string]any)
		Expect(spec["selector"]).To(Equal(map[string]any{"matchLabels": map[string]any{
			"app.kubernetes.io/name": "journey-operator", "app.kubernetes.io/instance": releaseName, "app.kubernetes.io/component": "manager"}}),
			"selects the metrics Service by the manager's labels")
		Expect(endpoints(manager)).To(HaveExactElements(SatisfyAll(
			HaveKeyWithValue("port", "https"), HaveKeyWithValue("scheme", "https"), HaveKeyWithValue("path", "/metrics"),
			HaveKeyWithValue("bearerTokenFile", "/var/run/secrets/kubernetes.io/serviceaccount/token"),
			HaveKeyWithValue("honorLabels", true), HaveKeyWithValue("interval", "1m"), HaveKeyWithValue("scrapeTimeout", "20s"),
			HaveKeyWithValue("tlsConfig", map[string]any{"serverName": "journey-operator-metrics.journey-system.svc",
				"ca": map[string]any{"secret": map[string]any{"name": "journey-metrics-cert", "key": "ca.crt"}}}))))
		evaluators := byName(objs, "ServiceMonitor", "journey-operator-evaluators")
		Expect(evaluators.Object["spec"]).To(SatisfyAll(
			HaveKeyWithValue("selector", map[string]any{"matchLabels": map[string]any{
				"app.kubernetes.io/managed-by": "journey-operator", "app.kubernetes.io/component": "evaluator"}}),
			HaveKeyWithValue("namespaceSelector", map[string]any{"any": true})))
		Expect(endpoints(evaluators)).To(HaveExactElements(SatisfyAll(HaveKeyWithValue("port", "http"),
			HaveKeyWithValue("path", "/metrics"), HaveKeyWithValue("honorLabels", true))))
	})

	It("with the default TLS settings, accepts the manager's self-signed certificate", func() {
		objs := mustRender(chrt, map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true}}})
		Expect(endpoints(byName(objs, "ServiceMonitor", "journey-operator-manager"))[0]).To(
			HaveKeyWithValue("tlsConfig", map[string]any{"insecureSkipVerify": true}))
	})

	It("refuses a ServiceMonitor without the metrics Service it selects", func() {
		_, err := renderChart(chrt, map[string]any{"metrics": map[string]any{"service": map[string]any{"enabled": false},
			"serviceMonitor": map[string]any{"enabled": true}}})
		Expect(err).To(MatchError(ContainSubstring("metrics.service.enabled")))
	})

	It("ships the alerting rules with the thresholds and labels of the values", func() {
		rules := prometheusRules(byName(mustRender(chrt, monitoring), "PrometheusRule", "journey-operator"))
		Expect(rules).To(HaveKey("JourneySourceRunFailed"))
		Expect(rules["JourneySourceNotSucceeding"]["expr"]).To(ContainSubstring("> 4 * max by (namespace, source) (journey_source_schedule_interval_seconds)"))
		Expect(rules["JourneyQuarantineSpike"]["expr"]).To(SatisfyAll(ContainSubstring(">= 25"), ContainSubstring("> 0.1 *")))
		Expect(rules["JourneyQuarantineSpike"]["annotations"]).To(HaveKeyWithValue("description", ContainSubstring("more than 10% of what it read")))
		Expect(rules["JourneyEvaluatorStalled"]["expr"]).To(ContainSubstring("changes(journey_evaluations_total[2h])"))
		for name, r := range rules {
			Expect(r["labels"]).To(HaveKeyWithValue("team", "platform"), name)
			Expect(r["labels"]).To(HaveKeyWithValue("severity", Or(Equal("warning"), Equal("critical"))), name)
			Expect(r["annotations"]).To(SatisfyAll(HaveKey("summary"), HaveKey("description")), name)
		}
	})

	It("ships the Grafana dashboards as ConfigMaps the sidecar finds", func() {
		objs := mustRender(chrt, monitoring)
		titles := map[string]bool{}
		for _, name := range []string{"journey-operator-dashboard-ingest", "journey-operator-dashboard-journeys"} {
			cm := as[corev1.ConfigMap](byName(objs, "ConfigMap", name))
			Expect(cm.Namespace).To(Equal("monitoring"))
			Expect(cm.Labels).To(HaveKeyWithValue("grafana_dashboard", "1"))
			Expect(cm.Annotations).To(HaveKeyWithValue("grafana_folder", "journey-operator"))
			Expect(cm.Data).To(HaveLen(1))
			for key, body := range cm.Data {
				Expect(key).To(HaveSuffix(".json"))
				var d struct {
					UID, Title string
					Panels     []struct{ Targets []struct{ Expr string } }
				}
				Expect(json.Unmarshal([]byte(body), &d)).To(Succeed(), "%s is JSON", key)
				Expect(d.UID).NotTo(BeEmpty())
				Expect(d.Panels).NotTo(BeEmpty())
				titles[d.Title] = true
			}
		}
		Expect(titles).To(HaveKey("journey-operator / Ingest"))
		Expect(titles).To(HaveKey("journey-operator / Journeys"))
	})
})

var _ = Describe("the manager's metrics in config/default", func() {
	It("serves /metrics over HTTPS, the manager reviewing each scrape, with a metrics-reader role", func() {
		objs := buildKustomize()
		args, _ := managerContainer(managerDeployment(objs))
		Expect(args).To(ContainElement("--metrics-bind-address=:8443"))
		Expect(containerPort(managerDeployment(objs), "metrics")).To(Equal(int32(8443)))
		svc := as[corev1.Service](byName(objs, "Service", "journey-operator-controller-manager-metrics-service"))
		Expect(svc.Spec.Ports).To(HaveExactElements(SatisfyAll(HaveField("Name", "https"), HaveField("Port", int32(8443)))))
		expectMetricsRBAC(objs, "journey-operator-metrics-auth-role", "journey-operator-metrics-auth-rolebinding", "journey-operator-metrics-reader",
			rbacv1.Subject{Kind: "ServiceAccount", Name: "journey-operator-controller-manager", Namespace: "journey-system"})
	})
})

// containerPort is the manager container's port of that name.
func containerPort(d *appsv1.Deployment, name string) int32 {
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	Fail("the manager has no container port named " + name)
	return 0
}

// endpoints of a ServiceMonitor.
func endpoints(sm *unstructured.Unstructured) []map[string]any {
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	out := make([]map[string]any, len(eps))
	for i, e := range eps {
		out[i] = e.(map[string]any)
	}
	return out
}

// prometheusRules indexes a PrometheusRule's alerts by name.
func prometheusRules(pr *unstructured.Unstructured) map[string]map[string]any {
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	out := map[string]map[string]any{}
	for _, g := range groups {
		rules, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			rule := r.(map[string]any)
			name, _ := rule["alert"].(string)
			Expect(strings.TrimSpace(name)).NotTo(BeEmpty())
			out[name] = rule
		}
	}
	return out
}
