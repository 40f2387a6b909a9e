package render

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// ReviewNames are the names of the objects a QuarantineReview owns.
type ReviewNames struct {
	ConfigMap, Job string
}

// NamesForReview derives them from the review's name (at most 56
// characters, enforced at admission).
func NamesForReview(name string) ReviewNames {
	return ReviewNames{ConfigMap: name + "-review-config", Job: name + "-review"}
}

func reviewMeta(rev *v1alpha1.QuarantineReview, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: rev.Namespace,
		Labels:          labels(ComponentReview, rev.Name, map[string]string{LabelReview: rev.Name, LabelSource: rev.Spec.Source}),
		OwnerReferences: ownerRef(rev, reviewGVK),
	}
}

// ReviewConfig is what the review's Job runs with: the review as admitted.
func ReviewConfig(rev *v1alpha1.QuarantineReview) runconfig.Review {
	return runconfig.Review{Version: runconfig.Version, Namespace: rev.Namespace, Name: rev.Name, UID: string(rev.UID), Spec: rev.Spec}
}

// ReviewConfigMap holds the encoded ReviewConfig; it returns its hash.
func ReviewConfigMap(rev *v1alpha1.QuarantineReview) (*corev1.ConfigMap, string, error) {
	return configMap(reviewMeta(rev, NamesForReview(rev.Name).ConfigMap), ReviewConfig(rev))
}

// Review Job limits: a decision is one transaction, quick; it is applied
// once however often the Job runs, so retries are safe.
const (
	reviewBackoffLimit          = 3
	reviewActiveDeadlineSeconds = 900
)

// ReviewJob carries out a review's decision with `journey review`, as the
// source's own identity (no API token) against the source's store.
func ReviewJob(rev *v1alpha1.QuarantineReview, src *v1alpha1.TouchpointSource, configHash string, opts Options) *batchv1.Job {
	names := NamesForReview(rev.Name)
	c := corev1.Container{
		Name:            ComponentReview,
		Image:           opts.Image,
		ImagePullPolicy: opts.ImagePullPolicy,
		Args:            []string{"review", "--config", runconfig.Path()},
		Resources:       resources("50m", "64Mi", "500m", "256Mi"),
	}
	c.Env = []corev1.EnvVar{storeEnv(SourceStore(src, opts)), memoryLimitEnv(c.Resources)}
	meta := reviewMeta(rev, names.Job)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](reviewBackoffLimit),
			ActiveDeadlineSeconds: ptr.To[int64](reviewActiveDeadlineSeconds),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels, Annotations: map[string]string{AnnotationConfig: configHash}},
				Spec:       podSpec(NamesForSource(src.Name).ServiceAccount, names.ConfigMap, c, nil, corev1.RestartPolicyNever),
			},
		},
	}
}
