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

// EvaluatorDeployment runs `journey evaluate` for a map of one shard;
// suspended, it has no replica.
func EvaluatorDeployment(jm *v1alpha1.JourneyMap, configHash string, opts Options) *appsv1.Deployment {
	names := NamesForJourney(jm.Name)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: journeyMeta(jm, names.Deployment),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(evaluatorReplicas(jm)),
			// One evaluator per map: its alert and survey state is not shared.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Selector: &metav1.LabelSelector{MatchLabels: evaluatorSelector(jm)},
			Template: evaluatorPod(jm, configHash, opts, nil),
		},
	}
}

// PodIndexLabel is the label the StatefulSet controller gives each pod:
// its ordinal, which is the evaluator's shard.
const PodIndexLabel = appsv1.PodIndexLabel

// shardEnv carries the pod's shard into its arguments.
const shardEnv = "JOURNEY_SHARD"

// EvaluatorStatefulSet runs one `journey evaluate` per shard of a map
// whose evaluation is sharded: a StatefulSet, because it keeps at most one
// pod per ordinal, also while a node is lost, and a shard's alerts and
// surveys must have one sender. Pods start in parallel: shard 0 waits for
// the others' first figures.
func EvaluatorStatefulSet(jm *v1alpha1.JourneyMap, configHash string, opts Options) *appsv1.StatefulSet {
	names := NamesForJourney(jm.Name)
	shards := jm.Spec.ShardCount()
	replicas := int32(shards)
	if jm.Spec.Suspend {
		replicas = 0
	}
	shard := []string{"--shard=$(" + shardEnv + ")", "--shards=" + strconv.Itoa(shards)}
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: journeyMeta(jm, names.Deployment),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         names.Service,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: evaluatorSelector(jm)},
			Template:            evaluatorPod(jm, configHash, opts, shard),
		},
	}
}

func evaluatorReplicas(jm *v1alpha1.JourneyMap) int32 {
	if jm.Spec.Suspend {
		return 0
	}
	return 1
}

func evaluatorSelector(jm *v1alpha1.JourneyMap) map[string]string {
	return map[string]string{LabelJourney: jm.Name, LabelComponent: ComponentEvaluator}
}

// evaluatorPod is an evaluator's pod, with the shard arguments when the
// map is sharded.
func evaluatorPod(jm *v1alpha1.JourneyMap, configHash string, opts Options, shardArgs []string) corev1.PodTemplateSpec {
	names := NamesForJourney(jm.Name)
	res := resources("100m", "128Mi", "1", "512Mi")
	if !opts.EvaluatorMemory.IsZero() {
		res.Requests[corev1.ResourceMemory], res.Limits[corev1.ResourceMemory] = opts.EvaluatorMemory, opts.EvaluatorMemory
	}
	env := []corev1.EnvVar{storeEnv(JourneyStore(opts)), memoryLimitEnv(res)}
	if shardArgs != nil {
		env = append(env, corev1.EnvVar{Name: shardEnv, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['" + PodIndexLabel + "']"}}})
	}
	c := corev1.Container{
		Name:            ComponentEvaluator,
		Image:           opts.Image,
		ImagePullPolicy: opts.ImagePullPolicy,
		Args:            append([]string{"evaluate", "--config", runconfig.Path(), "--listen", ":" + strconv.Itoa(HTTPPort)}, shardArgs...),
		Env:             env,
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe:  httpProbe("/readyz"),
		LivenessProbe:   httpProbe("/healthz"),
		Resources:       res,
	}
	scratch := DefaultEvaluatorScratch
	if !opts.EvaluatorScratch.IsZero() {
		scratch = opts.EvaluatorScratch
	}
	spec := podSpecWithTmp(names.ServiceAccount, names.ConfigMap, c, JourneySecretRefs(jm.Spec), corev1.RestartPolicyAlways, scratch)
	spec.AutomountServiceAccountToken = ptr.To(true) // to patch its map's status
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      labels(ComponentEvaluator, jm.Name, map[string]string{LabelJourney: jm.Name}),
			Annotations: map[string]string{AnnotationConfig: configHash},
		},
		Spec: spec,
	}
}

// serviceSelector is the evaluator pod the Service reaches: shard 0 when
// the map is sharded, which merges the journey and serves its page.
func serviceSelector(jm *v1alpha1.JourneyMap) map[string]string {
	sel := evaluatorSelector(jm)
	if jm.Spec.ShardCount() > 1 {
		sel[PodIndexLabel] = "0"
	}
	return sel
}

// EvaluatorService exposes the journey map page and /metrics on port 80
// (shard 0's when sharded).
func EvaluatorService(jm *v1alpha1.JourneyMap) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: journeyMeta(jm, NamesForJourney(jm.Name).Service),
		Spec: corev1.ServiceSpec{
			Selector: serviceSelector(jm),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}
