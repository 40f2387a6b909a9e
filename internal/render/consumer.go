package render

import (
	appsv1 "k8s.io/api/apps/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// kafkaSecretRefs are the Secrets a Kafka consumer reads: its TLS material
// and SASL credentials.
func kafkaSecretRefs(k *v1alpha1.KafkaStream) []v1alpha1.SecretKeyRef {
	var refs []v1alpha1.SecretKeyRef
	if t := k.TLS; t != nil {
		for _, r := range []*v1alpha1.SecretKeyRef{t.CASecretRef, t.CertSecretRef, t.KeySecretRef} {
			if r != nil {
				refs = append(refs, *r)
			}
		}
	}
	if s := k.SASL; s != nil {
		refs = append(refs, s.UsernameSecretRef, s.PasswordSecretRef)
	}
	return refs
}

// consumerSelector selects a source's consumer pods.
func consumerSelector(src *v1alpha1.TouchpointSource) map[string]string {
	return map[string]string{LabelSource: src.Name, LabelComponent: ComponentConsumer}
}

// ConsumerDeployment runs `journey consume` for a stream source, with
// spec.stream.kafka.replicas when set (left out otherwise, as for a
// receiver: whoever scales the Deployment owns the count); suspended, it
// has no replica. It serves /metrics and the probes on its http port; it
// is not ready while it cannot reach the brokers.
//
// A rolling update may run the old and the new consumer side by side for
// a moment: harmless, the store fences whichever loses its partitions.
func ConsumerDeployment(src *v1alpha1.TouchpointSource, configHash string, opts Options) *appsv1.Deployment {
	return sourceServer(src, configHash, opts, serverSpec{
		name: NamesForSource(src.Name).Consumer, component: ComponentConsumer, command: "consume",
		replicas: src.Spec.Stream.Kafka.Replicas, resources: resources("100m", "128Mi", "1", "512Mi"), selector: consumerSelector(src),
	})
}
