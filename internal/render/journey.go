package render

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// JourneyNames are the names of the objects a JourneyMap owns.
type JourneyNames struct {
	ServiceAccount, ConfigMap, Deployment, Service, Role, RoleBinding string
}

// NamesForJourney derives them from the map's name (at most 50 characters,
// enforced at admission).
func NamesForJourney(name string) JourneyNames {
	n := name + "-evaluator"
	return JourneyNames{ServiceAccount: n, ConfigMap: name + "-journey-config", Deployment: n, Service: n, Role: n, RoleBinding: n}
}

func journeyMeta(jm *v1alpha1.JourneyMap, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: jm.Namespace,
		Labels:          labels(ComponentEvaluator, jm.Name, map[string]string{LabelJourney: jm.Name}),
		OwnerReferences: ownerRef(jm, journeyGVK),
	}
}

// JourneySecretRefs lists the Secrets an evaluator reads, the store aside.
func JourneySecretRefs(spec v1alpha1.JourneyMapSpec) []v1alpha1.SecretKeyRef {
	var refs []v1alpha1.SecretKeyRef
	if spec.Notify != nil {
		for _, w := range spec.Notify.Webhooks {
			if w.SecretRef != nil {
				refs = append(refs, *w.SecretRef)
			}
		}
	}
	for _, f := range spec.Feedback {
		if f.Webhook.SecretRef != nil {
			refs = append(refs, *f.Webhook.SecretRef)
		}
	}
	return refs
}

// JourneyStore is the store Secret an evaluator uses.
func JourneyStore(opts Options) v1alpha1.SecretKeyRef { return opts.StoreSecret }

// JourneyConfig is what the evaluator runs with: the map and its sources,
// sources in name order.
func JourneyConfig(jm *v1alpha1.JourneyMap, sources []v1alpha1.TouchpointSource) runconfig.Journey {
	cfg := runconfig.Journey{
		Version: runconfig.Version, Namespace: jm.Namespace, Name: jm.Name,
		UID: string(jm.UID), Generation: jm.Generation, Spec: jm.Spec,
	}
	for _, s := range sources {
		cfg.Sources = append(cfg.Sources, runconfig.JourneySource{
			Name: s.Name, Touchpoint: s.Spec.Touchpoint, System: s.Spec.System, Financial: s.Spec.Financial})
	}
	return cfg
}

// JourneyConfigMap holds the encoded JourneyConfig; it returns the config hash.
func JourneyConfigMap(jm *v1alpha1.JourneyMap, sources []v1alpha1.TouchpointSource) (*corev1.ConfigMap, string, error) {
	return configMap(journeyMeta(jm, NamesForJourney(jm.Name).ConfigMap), JourneyConfig(jm, sources))
}

// EvaluatorServiceAccount is the identity of the evaluator, which writes its
// map's status and so needs a token.
func EvaluatorServiceAccount(jm *v1alpha1.JourneyMap) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: journeyMeta(jm, NamesForJourney(jm.Name).ServiceAccount),
	}
}

// EvaluatorRole lets the evaluator read its own map and patch its status,
// and nothing else.
func EvaluatorRole(jm *v1alpha1.JourneyMap) *rbacv1.Role {
	group := v1alpha1.GroupVersion.Group
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: journeyMeta(jm, NamesForJourney(jm.Name).Role),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{group}, Resources: []string{"journeymaps"}, ResourceNames: []string{jm.Name}, Verbs: []string{"get"}},
			{APIGroups: []string{group}, Resources: []string{"journeymaps/status"}, ResourceNames: []string{jm.Name}, Verbs: []string{"get", "patch"}},
		},
	}
}

// EvaluatorRoleBinding grants EvaluatorRole to the evaluator's account.
func EvaluatorRoleBinding(jm *v1alpha1.JourneyMap) *rbacv1.RoleBinding {
	names := NamesForJourney(jm.Name)
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: journeyMeta(jm, names.RoleBinding),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: names.Role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: names.ServiceAccount, Namespace: jm.Namespace}},
	}
}

// EvaluatorDeployment runs `journey evaluate`; suspended, it has no replica.
func EvaluatorDeployment(jm *v1alpha1.JourneyMap, configHash string, opts Options) *appsv1.Deployment {
	names := NamesForJourney(jm.Name)
	replicas := int32(1)
	if jm.Spec.Suspend {
		replicas = 0
	}
	res := resources("100m", "128Mi", "1", "512Mi")
	if !opts.EvaluatorMemory.IsZero() {
		res.Requests[corev1.ResourceMemory], res.Limits[corev1.ResourceMemory] = opts.EvaluatorMemory, opts.EvaluatorMemory
	}
	c := corev1.Container{
		Name:            ComponentEvaluator,
		Image:           opts.Image,
		ImagePullPolicy: opts.ImagePullPolicy,
		Args:            []string{"evaluate", "--config", runconfig.Path(), "--listen", ":" + strconv.Itoa(HTTPPort)},
		Env:             []corev1.EnvVar{storeEnv(JourneyStore(opts)), memoryLimitEnv(res)},
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe:  httpProbe("/readyz"),
		LivenessProbe:   httpProbe("/healthz"),
		Resources:       res,
	}
	spec := podSpec(names.ServiceAccount, names.ConfigMap, c, JourneySecretRefs(jm.Spec), corev1.RestartPolicyAlways)
	spec.AutomountServiceAccountToken = ptr.To(true) // to patch its map's status
	selector := map[string]string{LabelJourney: jm.Name, LabelComponent: ComponentEvaluator}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: journeyMeta(jm, names.Deployment),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			// One evaluator per map: its alert and survey state is not shared.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels(ComponentEvaluator, jm.Name, map[string]string{LabelJourney: jm.Name}),
					Annotations: map[string]string{AnnotationConfig: configHash},
				},
				Spec: spec,
			},
		},
	}
}

// EvaluatorService exposes the journey map page and /metrics on port 80.
func EvaluatorService(jm *v1alpha1.JourneyMap) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: journeyMeta(jm, NamesForJourney(jm.Name).Service),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{LabelJourney: jm.Name, LabelComponent: ComponentEvaluator},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}
