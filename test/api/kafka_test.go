package api_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	journeyv1alpha1 "github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// kafkaSource is a realistic Kafka source; each bad-input entry breaks one
// thing of it. It is not among config/samples: a consumer is Ready only
// with a broker to join.
const kafkaSource = `
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata: {name: playback-kafka}
spec:
  touchpoint: playback
  system: player
  stream:
    kafka:
      brokers: [kafka-0.kafka.streaming:9092, "[fd00::1]:9093"]
      topics: [playback.heartbeats, playback.sessions]
      consumerGroup: journey-playback
      tls: {caSecretRef: {name: kafka-ca, key: ca.crt}}
      sasl:
        mechanism: SCRAM-SHA-512
        usernameSecretRef: {name: kafka-user, key: username}
        passwordSecretRef: {name: kafka-user, key: password}
  mapping: {eventID: record.id, userID: record.user, occurredAt: timestamp(record.at), type: '"playback.minutes"'}
`

func kafkaObject(ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(kafkaSource), &u.Object)).To(Succeed())
	u.SetNamespace(ns)
	return u
}

var _ = Describe("admission of Kafka sources", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("admits the source and fills in its defaults", func() {
		var src journeyv1alpha1.TouchpointSource
		create(ns, kafkaSource, &src)
		k := src.Spec.Stream.Kafka
		Expect(k.StartOffset).To(Equal(journeyv1alpha1.KafkaStartEarliest))
		Expect(k.MaxPollRecords).To(Equal(int32(500)))
		Expect(k.Topics).To(Equal([]string{"playback.heartbeats", "playback.sessions"}))
	})

	DescribeTable("refuses bad input with a message naming the field",
		func(e edit, want ...string) {
			obj := kafkaObject(ns)
			obj.SetName("")
			obj.SetGenerateName("bad-")
			e(obj.Object)
			err := k8s.Create(ctx, obj)
			Expect(err).To(HaveOccurred(), "the API server accepted it")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want a 422 Invalid, got: %v", err)
			for _, w := range want {
				Expect(err.Error()).To(ContainSubstring(w))
			}
		},
		Entry("stream and batch", set("spec.batch", `{schedule: "@daily", file: {path: /data/x.jsonl, format: JSONLines}}`),
			"exactly one of spec.batch, spec.webhook or spec.stream must be set"),
		Entry("stream and webhook", set("spec.webhook", `{path: /hook}`),
			"exactly one of spec.batch, spec.webhook or spec.stream must be set"),
		Entry("stream without kafka", set("spec.stream", `{}`),
			"spec.stream.kafka: Required value", "the Kafka brokers, topics and consumer group"),
		Entry("no brokers", set("spec.stream.kafka.brokers", `[]`),
			"spec.stream.kafka.brokers", "at least 1 items"),
		Entry("broker without a port", set("spec.stream.kafka.brokers", `[kafka-0.kafka.streaming]`),
			"spec.stream.kafka.brokers[0]", "each broker must be host:port"),
		Entry("broker as a URL", set("spec.stream.kafka.brokers", `["kafka://kafka-0:9092"]`),
			"spec.stream.kafka.brokers[0]", "each broker must be host:port"),
		Entry("no topics", set("spec.stream.kafka.topics", `[]`),
			"spec.stream.kafka.topics", "at least 1 items"),
		Entry("topic with a slash", set("spec.stream.kafka.topics", `[playback/heartbeats]`),
			"spec.stream.kafka.topics[0]", "each topic must be a Kafka topic name"),
		Entry("a topic twice", set("spec.stream.kafka.topics", `[playback, playback]`),
			"spec.stream.kafka.topics[1]", "Duplicate value"),
		Entry("no consumer group", del("spec.stream.kafka.consumerGroup"),
			"spec.stream.kafka.consumerGroup: Required value"),
		Entry("consumer group with a space", set("spec.stream.kafka.consumerGroup", `journey playback`),
			"spec.stream.kafka.consumerGroup", "consumerGroup must be letters, digits"),
		Entry("start offset that does not exist", set("spec.stream.kafka.startOffset", `Newest`),
			`spec.stream.kafka.startOffset: Unsupported value: "Newest"`, `"Earliest", "Latest"`),
		Entry("SASL mechanism that is not supported", set("spec.stream.kafka.sasl.mechanism", `GSSAPI`),
			`spec.stream.kafka.sasl.mechanism: Unsupported value: "GSSAPI"`, `"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"`),
		Entry("SASL PLAIN without TLS", func(obj map[string]any) {
			set("spec.stream.kafka.sasl.mechanism", `PLAIN`)(obj)
			del("spec.stream.kafka.tls")(obj)
		}, "spec.stream.kafka.sasl.mechanism: Forbidden", "SASL PLAIN sends the password as it is"),
		Entry("SASL without a password", del("spec.stream.kafka.sasl.passwordSecretRef"),
			"spec.stream.kafka.sasl.passwordSecretRef: Required value"),
		Entry("SASL user Secret name with upper case", set("spec.stream.kafka.sasl.usernameSecretRef.name", `Kafka_User`),
			"spec.stream.kafka.sasl.usernameSecretRef.name", "name must be a Secret name"),
		Entry("client certificate without its key", set("spec.stream.kafka.tls.certSecretRef", `{name: kafka-client, key: tls.crt}`),
			"spec.stream.kafka.tls", "certSecretRef and keySecretRef go together"),
		Entry("no records per poll", set("spec.stream.kafka.maxPollRecords", `0`),
			"spec.stream.kafka.maxPollRecords", "greater than or equal to 1"),
		Entry("no consumer at all", set("spec.stream.kafka.replicas", `0`),
			"spec.stream.kafka.replicas", "greater than or equal to 1"),
		Entry("stream without a mapping", del("spec.mapping"),
			"spec.mapping: Required value"),
		Entry("mapping without eventID", del("spec.mapping.eventID"),
			"spec.mapping.eventID: Required value"),
	)
})
