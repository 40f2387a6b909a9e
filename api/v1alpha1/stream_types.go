package v1alpha1

// StreamSource consumes records as they are produced. Kafka is the one
// stream there is; the struct leaves room for others beside it.
// +kubebuilder:validation:XValidation:rule="has(self.kafka)",fieldPath=".kafka",reason="FieldValueRequired",message="spec.stream.kafka is required: the Kafka brokers, topics and consumer group to read from"
type StreamSource struct {
	// Kafka consumes topics of a Kafka cluster as one consumer group. Each
	// record's value is one JSON object, mapped by spec.mapping; a value
	// that is not is quarantined with the reason. The events and the
	// partitions' offsets commit to the store in one transaction, so every
	// record is stored exactly once whatever restarts or rebalances.
	// +optional
	Kafka *KafkaStream `json:"kafka,omitempty"`
}

// KafkaStartOffset is where a partition the store has no offset for starts.
// +kubebuilder:validation:Enum=Earliest;Latest
type KafkaStartOffset string

const (
	// KafkaStartEarliest reads a new partition from its oldest record.
	KafkaStartEarliest KafkaStartOffset = "Earliest"
	// KafkaStartLatest reads a new partition from records produced after
	// the consumer joined.
	KafkaStartLatest KafkaStartOffset = "Latest"
)

// KafkaStream says which Kafka cluster, topics and group to consume.
// +kubebuilder:validation:XValidation:rule="!has(self.sasl) || self.sasl.mechanism != 'PLAIN' || has(self.tls)",fieldPath=".sasl.mechanism",reason="FieldValueForbidden",message="SASL PLAIN sends the password as it is: set spec.stream.kafka.tls, or use SCRAM-SHA-256 or SCRAM-SHA-512"
type KafkaStream struct {
	// Brokers to bootstrap from, host:port each.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=261
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:[0-9]{1,5}$') || self.matches('^\\\\[[0-9A-Fa-f:.]+\\\\]:[0-9]{1,5}$')",message="each broker must be host:port, e.g. kafka-0.kafka.streaming:9092"
	Brokers []string `json:"brokers"`

	// Topics to consume, all with the same mapping.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=249
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[A-Za-z0-9._-]+$') && self != '.' && self != '..'",message="each topic must be a Kafka topic name: letters, digits, '.', '_' and '-'"
	Topics []string `json:"topics"`

	// ConsumerGroup the consumers join; Kafka spreads the topics'
	// partitions over its members. The store keeps the offsets per source
	// and group: a new group starts again at startOffset.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9._-]+$')",message="consumerGroup must be letters, digits, '.', '_' and '-'"
	ConsumerGroup string `json:"consumerGroup"`

	// StartOffset of a partition the store holds no offset for: Earliest
	// (the default) or Latest.
	// +optional
	// +kubebuilder:default=Earliest
	StartOffset KafkaStartOffset `json:"startOffset,omitempty"`

	// TLS to the brokers. Without it, the connection is plain text.
	// +optional
	TLS *KafkaTLS `json:"tls,omitempty"`

	// SASL authenticates the consumer to the brokers.
	// +optional
	SASL *KafkaSASL `json:"sasl,omitempty"`

	// MaxPollRecords bounds how many records commit together. Defaults to
	// 500.
	// +optional
	// +kubebuilder:default=500
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxPollRecords int32 `json:"maxPollRecords,omitempty"`

	// Replicas of the consumer. Kafka gives each partition to one member of
	// the group, so more replicas than partitions stand by. Unset, the
	// operator leaves the count to whoever scales the Deployment (one at
	// first).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	Replicas *int32 `json:"replicas,omitempty"`
}

// KafkaTLS configures TLS to the brokers; the system's roots verify them
// unless caSecretRef is given.
// +kubebuilder:validation:XValidation:rule="has(self.certSecretRef) == has(self.keySecretRef)",message="spec.stream.kafka.tls.certSecretRef and keySecretRef go together: a client certificate needs its key"
type KafkaTLS struct {
	// CASecretRef selects a Secret key holding the PEM CA bundle that signed
	// the brokers' certificates.
	// +optional
	CASecretRef *SecretKeyRef `json:"caSecretRef,omitempty"`

	// CertSecretRef and KeySecretRef select the PEM client certificate and
	// key, for brokers that authenticate clients by certificate.
	// +optional
	CertSecretRef *SecretKeyRef `json:"certSecretRef,omitempty"`
	// +optional
	KeySecretRef *SecretKeyRef `json:"keySecretRef,omitempty"`

	// ServerName to verify the brokers' certificates against, when it is
	// not the broker's host.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServerName string `json:"serverName,omitempty"`
}

// KafkaSASLMechanism is how the consumer authenticates with SASL.
// +kubebuilder:validation:Enum=PLAIN;SCRAM-SHA-256;SCRAM-SHA-512
type KafkaSASLMechanism string

const (
	KafkaSASLPlain       KafkaSASLMechanism = "PLAIN"
	KafkaSASLScramSHA256 KafkaSASLMechanism = "SCRAM-SHA-256"
	KafkaSASLScramSHA512 KafkaSASLMechanism = "SCRAM-SHA-512"
)

// KafkaSASL names the mechanism and the Secret keys of the credentials.
type KafkaSASL struct {
	// Mechanism: PLAIN (only with tls), SCRAM-SHA-256 or SCRAM-SHA-512.
	// +required
	Mechanism KafkaSASLMechanism `json:"mechanism"`

	// UsernameSecretRef selects the Secret key holding the user name.
	// +required
	UsernameSecretRef SecretKeyRef `json:"usernameSecretRef"`

	// PasswordSecretRef selects the Secret key holding the password.
	// +required
	PasswordSecretRef SecretKeyRef `json:"passwordSecretRef"`
}

// Mode is how the source receives records: Batch, Webhook or Stream.
func (s *TouchpointSourceSpec) Mode() SourceMode {
	switch {
	case s.Webhook != nil:
		return SourceModeWebhook
	case s.Stream != nil:
		return SourceModeStream
	}
	return SourceModeBatch
}
