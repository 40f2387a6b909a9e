package render_test

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

func kafkaSource(replicas *int32, suspend bool) *v1alpha1.TouchpointSource {
	return &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "plays", UID: "uid-2"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "playback", Suspend: suspend,
			Stream: &v1alpha1.StreamSource{Kafka: &v1alpha1.KafkaStream{
				Brokers: []string{"kafka-0:9092"}, Topics: []string{"plays"}, ConsumerGroup: "journey", Replicas: replicas,
				TLS: &v1alpha1.KafkaTLS{CASecretRef: &v1alpha1.SecretKeyRef{Name: "kafka-ca", Key: "ca.crt"}},
				SASL: &v1alpha1.KafkaSASL{Mechanism: v1alpha1.KafkaSASLScramSHA512,
					UsernameSecretRef: v1alpha1.SecretKeyRef{Name: "kafka-user", Key: "username"},
					PasswordSecretRef: v1alpha1.SecretKeyRef{Name: "kafka-user", Key: "password"}},
			}},
		},
	}
}

// A stream source runs `journey consume` from its rendered configuration,
// restricted like every pod, owned by the source, with /metrics and the
// probes on its http port and the store's DSN from its Secret.
func TestConsumerDeployment(t *testing.T) {
	src := kafkaSource(nil, false)
	dep := render.ConsumerDeployment(src, "sha256:h", render.Options{Image: "journey:test", StoreSecret: v1alpha1.SecretKeyRef{Name: "journey-store", Key: "dsn"}})
	if dep.Name != "plays-consumer" || dep.Namespace != "media" || dep.Kind != "Deployment" {
		t.Fatalf("%s %s/%s", dep.Kind, dep.Namespace, dep.Name)
	}
	if refs := dep.OwnerReferences; len(refs) != 1 || refs[0].Kind != "TouchpointSource" || refs[0].Name != "plays" || !*refs[0].Controller {
		t.Errorf("owners %v", refs)
	}
	if dep.Labels[render.LabelManagedBy] != render.ManagedBy || dep.Labels[render.LabelComponent] != render.ComponentConsumer {
		t.Errorf("labels %v", dep.Labels)
	}
	pod := dep.Spec.Template
	for k, v := range dep.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("the selector %v does not select the pod %v", dep.Spec.Selector.MatchLabels, pod.Labels)
		}
	}
	if pod.Annotations[render.AnnotationConfig] != "sha256:h" {
		t.Errorf("a new configuration must roll the pods: annotations %v", pod.Annotations)
	}
	c := pod.Spec.Containers[0]
	if want := []string{"consume", "--config", runconfig.Path(), "--listen", ":8080"}; !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes %v %v", c.ReadinessProbe, c.LivenessProbe)
	}
	var dsn bool
	for _, e := range c.Env {
		dsn = dsn || e.Name == runconfig.StoreDSNEnv && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name == "journey-store"
	}
	if !dsn {
		t.Errorf("no store DSN from its Secret: env %v", c.Env)
	}
	if v, err := testutil.RestrictedViolations(pod.ObjectMeta, pod.Spec); err != nil || len(v) > 0 {
		t.Errorf("restricted Pod Security: %v %v", v, err)
	}
	if ptr.Deref(pod.Spec.AutomountServiceAccountToken, true) {
		t.Error("the consumer needs no API access: no token")
	}
}

// The consumer mounts exactly the keys its TLS and SASL settings name,
// each Secret once.
func TestConsumerMountsKafkaCredentials(t *testing.T) {
	src := kafkaSource(nil, false)
	refs := render.SourceSecretRefs(src.Spec)
	want := []v1alpha1.SecretKeyRef{{Name: "kafka-ca", Key: "ca.crt"}, {Name: "kafka-user", Key: "username"}, {Name: "kafka-user", Key: "password"}}
	if !slices.Equal(refs, want) {
		t.Fatalf("secret refs %v, want %v", refs, want)
	}
	pod := render.ConsumerDeployment(src, "sha256:h", render.Options{Image: "journey:test"}).Spec.Template
	items := map[string][]string{}
	for _, v := range pod.Spec.Volumes {
		if s := v.Secret; s != nil {
			for _, it := range s.Items {
				items[s.SecretName] = append(items[s.SecretName], it.Key)
			}
		}
	}
	if len(items) != 2 || !slices.Equal(items["kafka-ca"], []string{"ca.crt"}) || len(items["kafka-user"]) != 2 {
		t.Errorf("secret volumes %v", items)
	}
	mounted := map[string]bool{}
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		mounted[m.MountPath] = true
	}
	for _, dir := range []string{"kafka-ca", "kafka-user"} {
		if !mounted[runconfig.SecretsDir+"/"+dir] {
			t.Errorf("Secret %s not mounted where the consumer reads it: %v", dir, mounted)
		}
	}
}

// Replicas reach the Deployment when set, are left to whoever scales it
// when not, and a suspended source has none.
func TestConsumerReplicas(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas *int32
		suspend  bool
		want     *int32
	}{
		{"unset", nil, false, nil},
		{"three", ptr.To[int32](3), false, ptr.To[int32](3)},
		{"three, suspended", ptr.To[int32](3), true, ptr.To[int32](0)},
		{"unset, suspended", nil, true, ptr.To[int32](0)},
	} {
		got := render.ConsumerDeployment(kafkaSource(tc.replicas, tc.suspend), "sha256:h", render.Options{Image: "journey:test"}).Spec.Replicas
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: replicas %v, want %v", tc.name, ptr.Deref(got, -1), ptr.Deref(tc.want, -1))
		}
	}
}
