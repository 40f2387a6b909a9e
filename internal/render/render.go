// Package render turns journey resources into the Kubernetes objects that run
// them. Every function is pure: spec in, object out, no API calls, so tests
// can call them directly and the controller only applies what they return.
//
// Every pod meets the restricted Pod Security Standard: non-root, no privilege
// escalation, all capabilities dropped, RuntimeDefault seccomp, read-only root
// filesystem (with an emptyDir at /tmp), and requests and limits set.
package render

import (
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// Labels and annotations on every owned object.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedBy        = "journey-operator"
	LabelName        = "app.kubernetes.io/name"
	LabelInstance    = "app.kubernetes.io/instance"
	LabelComponent   = "app.kubernetes.io/component"
	LabelSource      = "journey.cjm.dev/source"
	LabelJourney     = "journey.cjm.dev/journey"
	LabelReview      = "journey.cjm.dev/review"
	AnnotationConfig = "journey.cjm.dev/config-hash"
	// AnnotationRequestedAt on a manual ingest Job records the request it serves.
	AnnotationRequestedAt = v1alpha1.RequestedAtAnnotation
)

// Components, the value of app.kubernetes.io/component.
const (
	ComponentIngest    = "ingest"
	ComponentReceiver  = "receiver"
	ComponentConsumer  = "consumer"
	ComponentEvaluator = "evaluator"
	ComponentReview    = "review"
)

// Options are the operator-wide settings rendering needs.
type Options struct {
	// Image runs every workload; it is the operator's own image.
	Image string
	// ImagePullPolicy of the workloads' containers.
	ImagePullPolicy corev1.PullPolicy
	// StoreSecret is the store DSN used when a resource names none. It must
	// exist in the resource's namespace.
	StoreSecret v1alpha1.SecretKeyRef
	// EvaluatorMemory, when not zero, is each evaluator's memory request
	// and limit; else 128Mi and 512Mi. An evaluator holds every user's
	// state (make bench-journey measures it).
	EvaluatorMemory resource.Quantity
	// EvaluatorScratch, when not zero, bounds each evaluator's /tmp, where
	// a full evaluation puts the events it has read until their users'
	// turn; else DefaultEvaluatorScratch.
	EvaluatorScratch resource.Quantity
}

// DefaultEvaluatorScratch is an evaluator's /tmp when Options give none: a
// full evaluation writes a few tens of bytes per event there.
var DefaultEvaluatorScratch = resource.MustParse("4Gi")

// HTTPPort is where receivers and evaluators listen in their pods.
const HTTPPort = 8080

var (
	sourceGVK  = v1alpha1.GroupVersion.WithKind("TouchpointSource")
	journeyGVK = v1alpha1.GroupVersion.WithKind("JourneyMap")
	reviewGVK  = v1alpha1.GroupVersion.WithKind("QuarantineReview")
)

func ownerRef(obj metav1.Object, gvk schema.GroupVersionKind) []metav1.OwnerReference {
	return []metav1.OwnerReference{*metav1.NewControllerRef(obj, gvk)}
}

func labels(component, instance string, extra map[string]string) map[string]string {
	l := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelName:      "journey",
		LabelComponent: component,
		LabelInstance:  instance,
	}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// secretVolumes mounts each referenced Secret, only the keys referenced, at
// runconfig.SecretPath. Volumes are named by position so any Secret name fits.
func secretVolumes(refs []v1alpha1.SecretKeyRef) ([]corev1.Volume, []corev1.VolumeMount) {
	keys := map[string]map[string]bool{}
	for _, r := range refs {
		if keys[r.Name] == nil {
			keys[r.Name] = map[string]bool{}
		}
		keys[r.Name][r.Key] = true
	}
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	for i, n := range names {
		var items []corev1.KeyToPath
		for _, k := range sortedKeys(keys[n]) {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
		vname := "secret-" + strconv.Itoa(i)
		vols = append(vols, corev1.Volume{Name: vname, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: n, Items: items, DefaultMode: ptr.To[int32](0o440)},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: vname, MountPath: runconfig.SecretsDir + "/" + n, ReadOnly: true})
	}
	return vols, mounts
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// storeRef is the store a resource uses: its own, or the operator's default.
func storeRef(own *v1alpha1.StoreReference, opts Options) v1alpha1.SecretKeyRef {
	if own != nil {
		return own.SecretRef
	}
	return opts.StoreSecret
}

// podSpec is the restricted pod every workload runs.
func podSpec(serviceAccount, configMap string, c corev1.Container, secretRefs []v1alpha1.SecretKeyRef, restart corev1.RestartPolicy) corev1.PodSpec {
	return podSpecWithTmp(serviceAccount, configMap, c, secretRefs, restart, resource.MustParse("1Gi"))
}

// podSpecWithTmp is podSpec with /tmp of the given size.
func podSpecWithTmp(serviceAccount, configMap string, c corev1.Container, secretRefs []v1alpha1.SecretKeyRef, restart corev1.RestartPolicy, tmp resource.Quantity) corev1.PodSpec {
	vols, mounts := secretVolumes(secretRefs)
	vols = append([]corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(tmp)}}},
	}, vols...)
	c.VolumeMounts = append([]corev1.VolumeMount{
		{Name: "config", MountPath: runconfig.Dir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}, mounts...)
	c.SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	return corev1.PodSpec{
		ServiceAccountName:           serviceAccount,
		AutomountServiceAccountToken: ptr.To(false),
		RestartPolicy:                restart,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To[int64](65532),
			RunAsGroup:     ptr.To[int64](65532),
			FSGroup:        ptr.To[int64](65532),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{c},
		Volumes:    vols,
	}
}

func resources(cpuReq, memReq, cpuLim, memLim string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuReq), corev1.ResourceMemory: resource.MustParse(memReq)},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLim), corev1.ResourceMemory: resource.MustParse(memLim)},
	}
}

// MemoryLimitEnv is the name of the Go runtime's soft memory limit.
const MemoryLimitEnv = "GOMEMLIMIT"

// memoryLimitEnv sets the Go runtime's soft memory limit to 90% of the
// container's: the collector then works harder as memory nears the limit,
// instead of letting the heap double past it and the kernel kill the pod.
func memoryLimitEnv(res corev1.ResourceRequirements) corev1.EnvVar {
	limit := res.Limits[corev1.ResourceMemory]
	return corev1.EnvVar{Name: MemoryLimitEnv, Value: strconv.FormatInt(limit.Value()/10*9, 10)}
}

func storeEnv(ref v1alpha1.SecretKeyRef) corev1.EnvVar {
	return corev1.EnvVar{Name: runconfig.StoreDSNEnv, ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: ref.Key},
	}}
}

func httpProbe(path string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
		PeriodSeconds: 10,
	}
}

// configMap holds a workload's encoded run configuration; it returns the
// configuration's hash, which also annotates the ConfigMap.
func configMap(meta metav1.ObjectMeta, cfg any) (*corev1.ConfigMap, string, error) {
	data, hash, err := runconfig.Encode(cfg)
	if err != nil {
		return nil, "", err
	}
	meta.Annotations = map[string]string{AnnotationConfig: hash}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta,
		Data:       map[string]string{runconfig.FileName: string(data)},
	}, hash, nil
}
