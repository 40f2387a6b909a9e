package render

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// SourceNames are the names of the objects a TouchpointSource owns.
type SourceNames struct {
	ServiceAccount, ConfigMap, CronJob, Deployment, Service, PodDisruptionBudget string
	// Consumer is a stream source's Deployment.
	Consumer string
}

// NamesForSource derives them from the source's name (at most 45 characters,
// enforced at admission, so every name fits its kind's limit).
func NamesForSource(name string) SourceNames {
	return SourceNames{
		ServiceAccount: name + "-source",
		ConfigMap:      name + "-source-config",
		CronJob:        name + "-ingest",
		Deployment:     name + "-receiver",
		Service:        name + "-receiver",
		// PodDisruptionBudget keeps the receivers of a source that runs
		// several: it is named after what it protects.
		PodDisruptionBudget: name + "-receiver",
		Consumer:            name + "-consumer",
	}
}

func sourceLabels(src *v1alpha1.TouchpointSource, component string) map[string]string {
	return labels(component, src.Name, map[string]string{LabelSource: src.Name})
}

func sourceMeta(src *v1alpha1.TouchpointSource, name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: src.Namespace,
		Labels:          sourceLabels(src, component),
		OwnerReferences: ownerRef(src, sourceGVK),
	}
}

func sourceComponent(src *v1alpha1.TouchpointSource) string {
	switch {
	case src.Spec.Webhook != nil:
		return ComponentReceiver
	case src.Spec.Stream != nil:
		return ComponentConsumer
	}
	return ComponentIngest
}

// SourceSecretRefs lists the Secrets a source's pods read, the store aside.
func SourceSecretRefs(spec v1alpha1.TouchpointSourceSpec) []v1alpha1.SecretKeyRef {
	var refs []v1alpha1.SecretKeyRef
	if b := spec.Batch; b != nil {
		if b.HTTP != nil && b.HTTP.AuthSecretRef != nil {
			refs = append(refs, *b.HTTP.AuthSecretRef)
		}
		if b.SQL != nil {
			refs = append(refs, b.SQL.DSNSecretRef)
		}
	}
	if w := spec.Webhook; w != nil && w.Signature != nil {
		refs = append(refs, w.Signature.SecretRefs...)
	}
	if w := spec.Webhook; w != nil && w.WriteKeySecretRef != nil {
		refs = append(refs, *w.WriteKeySecretRef)
	}
	if s := spec.Stream; s != nil && s.Kafka != nil {
		refs = append(refs, kafkaSecretRefs(s.Kafka)...)
	}
	return refs
}

// SourceStore is the store Secret a source's pods use.
func SourceStore(src *v1alpha1.TouchpointSource, opts Options) v1alpha1.SecretKeyRef {
	return storeRef(src.Spec.Store, opts)
}

// SourceConfig is what the source's pods run with: the source and every
// check of every rule that selects it, rules in name order.
func SourceConfig(src *v1alpha1.TouchpointSource, rules []v1alpha1.ValidationRule) runconfig.Source {
	cfg := runconfig.Source{
		Version: runconfig.Version, Namespace: src.Namespace, Name: src.Name,
		UID: string(src.UID), Generation: src.Generation, Edited: runconfig.EditOf(src.Annotations), Spec: src.Spec,
	}
	for _, r := range rules {
		cfg.Rules = append(cfg.Rules, runconfig.Rule{Name: r.Name, Generation: r.Generation, Edited: runconfig.EditOf(r.Annotations), Checks: r.Spec.Checks})
	}
	return cfg
}

// SourceConfigMap holds the encoded SourceConfig; it returns the config hash.
func SourceConfigMap(src *v1alpha1.TouchpointSource, rules []v1alpha1.ValidationRule) (*corev1.ConfigMap, string, error) {
	return configMap(sourceMeta(src, NamesForSource(src.Name).ConfigMap, sourceComponent(src)), SourceConfig(src, rules))
}

// SourceServiceAccount is the identity of a source's pods. They need no API
// access, so no token is mounted.
func SourceServiceAccount(src *v1alpha1.TouchpointSource) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   sourceMeta(src, NamesForSource(src.Name).ServiceAccount, sourceComponent(src)),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// ingestPodTemplate runs `journey ingest` once.
func ingestPodTemplate(src *v1alpha1.TouchpointSource, configHash string, opts Options) corev1.PodTemplateSpec {
	names := NamesForSource(src.Name)
	c := corev1.Container{
		Name:            ComponentIngest,
		Image:           opts.Image,
		ImagePullPolicy: opts.ImagePullPolicy,
		Args:            []string{"ingest", "--config", runconfig.Path()},
		Resources:       resources("100m", "128Mi", "1", "512Mi"),
	}
	c.Env = []corev1.EnvVar{storeEnv(SourceStore(src, opts)), memoryLimitEnv(c.Resources)}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      sourceLabels(src, ComponentIngest),
			Annotations: map[string]string{AnnotationConfig: configHash},
		},
		Spec: podSpec(names.ServiceAccount, names.ConfigMap, c, SourceSecretRefs(src.Spec), corev1.RestartPolicyNever),
	}
}

// Ingest run limits: a run that has not finished in an hour is stuck; two
// retries ride out a transient failure (runs are idempotent).
const (
	ingestBackoffLimit           = 2
	ingestActiveDeadlineSeconds  = 3600
	ingestStartingDeadlineSecond = 300
	ingestHistory                = 3
)

func ingestJobSpec(src *v1alpha1.TouchpointSource, configHash string, opts Options) batchv1.JobSpec {
	return batchv1.JobSpec{
		BackoffLimit:          ptr.To[int32](ingestBackoffLimit),
		ActiveDeadlineSeconds: ptr.To[int64](ingestActiveDeadlineSeconds),
		Template:              ingestPodTemplate(src, configHash, opts),
	}
}

// IngestCronJob runs a batch source on its schedule, one run at a time.
func IngestCronJob(src *v1alpha1.TouchpointSource, configHash string, opts Options) *batchv1.CronJob {
	b := src.Spec.Batch
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: sourceMeta(src, NamesForSource(src.Name).CronJob, ComponentIngest),
		Spec: batchv1.CronJobSpec{
			Schedule:                   b.Schedule,
			TimeZone:                   b.TimeZone,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			Suspend:                    ptr.To(src.Spec.Suspend),
			StartingDeadlineSeconds:    ptr.To[int64](ingestStartingDeadlineSecond),
			SuccessfulJobsHistoryLimit: ptr.To[int32](ingestHistory),
			FailedJobsHistoryLimit:     ptr.To[int32](ingestHistory),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sourceLabels(src, ComponentIngest)},
				Spec:       ingestJobSpec(src, configHash, opts),
			},
		},
	}
}

// ManualIngestJob is one run now, as `kubectl create job --from=cronjob/...`
// would make it, named after the request so a request runs once.
func ManualIngestJob(src *v1alpha1.TouchpointSource, requestedAt, configHash string, opts Options) *batchv1.Job {
	sum := sha256.Sum256([]byte(requestedAt))
	meta := sourceMeta(src, NamesForSource(src.Name).CronJob+"-manual-"+hex.EncodeToString(sum[:])[:8], ComponentIngest)
	meta.Annotations = map[string]string{AnnotationRequestedAt: requestedAt}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec:       ingestJobSpec(src, configHash, opts),
	}
}

// ReceiverDeployment serves a webhook source with spec.webhook.replicas;
// suspended, it has no replica. Without replicas it leaves the count out,
// so that server-side apply leaves it to whoever scales the Deployment (a
// HorizontalPodAutoscaler, kubectl scale): one replica until then.
func ReceiverDeployment(src *v1alpha1.TouchpointSource, configHash string, opts Options) *appsv1.Deployment {
	return sourceServer(src, configHash, opts, serverSpec{
		name: NamesForSource(src.Name).Deployment, component: ComponentReceiver, command: "receive",
		replicas: src.Spec.Webhook.Replicas, resources: resources("50m", "64Mi", "500m", "256Mi"), selector: receiverSelector(src),
	})
}

// serverSpec is what sets one long-running source workload (a receiver, a
// consumer) apart from another.
type serverSpec struct {
	name, component, command string
	replicas                 *int32
	resources                corev1.ResourceRequirements
	selector                 map[string]string
}

// sourceServer is a source's long-running Deployment: `journey <command>`
// on the source's configuration, /metrics and the probes on its http
// port, spec replicas (none while suspended; unset, the count is left to
// whoever scales it).
func sourceServer(src *v1alpha1.TouchpointSource, configHash string, opts Options, w serverSpec) *appsv1.Deployment {
	names := NamesForSource(src.Name)
	var replicas *int32
	if w.replicas != nil {
		replicas = ptr.To(*w.replicas)
	}
	if src.Spec.Suspend {
		replicas = ptr.To[int32](0)
	}
	c := corev1.Container{
		Name:            w.component,
		Image:           opts.Image,
		ImagePullPolicy: opts.ImagePullPolicy,
		Args:            []string{w.command, "--config", runconfig.Path(), "--listen", ":" + strconv.Itoa(HTTPPort)},
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe:  httpProbe("/readyz"),
		LivenessProbe:   httpProbe("/healthz"),
		Resources:       w.resources,
	}
	c.Env = []corev1.EnvVar{storeEnv(SourceStore(src, opts)), memoryLimitEnv(c.Resources)}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: sourceMeta(src, w.name, w.component),
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: w.selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      sourceLabels(src, w.component),
					Annotations: map[string]string{AnnotationConfig: configHash},
				},
				Spec: podSpec(names.ServiceAccount, names.ConfigMap, c, SourceSecretRefs(src.Spec), corev1.RestartPolicyAlways),
			},
		},
	}
}

// receiverSelector selects a source's receiver pods.
func receiverSelector(src *v1alpha1.TouchpointSource) map[string]string {
	return map[string]string{LabelSource: src.Name, LabelComponent: ComponentReceiver}
}

// ReceiverPodDisruptionBudget keeps a source's receivers serving through
// voluntary disruptions (node drains, cluster upgrades) when it runs
// several (spec.webhook.replicas > 1); nil otherwise, and the controller
// removes one it made before.
//
// maxUnavailable 1, not minAvailable 1: one receiver evicted at a time
// whatever the count (an autoscaler's too), where minAvailable 1 would let
// all but one go at once. Pods that are not ready can always be evicted: a
// receiver that cannot serve should not hold a node.
func ReceiverPodDisruptionBudget(src *v1alpha1.TouchpointSource) *policyv1.PodDisruptionBudget {
	w := src.Spec.Webhook
	if w == nil || src.Spec.Suspend || w.Replicas == nil || *w.Replicas < 2 {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: sourceMeta(src, NamesForSource(src.Name).PodDisruptionBudget, ComponentReceiver),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             ptr.To(intstr.FromInt32(1)),
			Selector:                   &metav1.LabelSelector{MatchLabels: receiverSelector(src)},
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}

// ReceiverService puts the webhook receiver behind port 80.
func ReceiverService(src *v1alpha1.TouchpointSource) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: sourceMeta(src, NamesForSource(src.Name).Service, ComponentReceiver),
		Spec: corev1.ServiceSpec{
			Selector: receiverSelector(src),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}
