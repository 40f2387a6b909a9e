package v1alpha1

// Condition types shared by the three kinds. They follow kstatus: Ready is
// always present, Reconciling is True while work is under way, Stalled is True
// when only a change of spec can help; Reconciling and Stalled are never both
// True.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	// ConditionAuditCompliant is set on financial TouchpointSources only.
	ConditionAuditCompliant = "AuditCompliant"
)

// RequestedAtAnnotation: any new value triggers a reconcile (for a
// TouchpointSource also an immediate ingest run); the value handled last is
// echoed in status.lastHandledRequestedAt.
const RequestedAtAnnotation = "journey.cjm.dev/requested-at"

// Expression is a CEL expression. Which variables it sees depends on the field
// that holds it; the controller compiles it and reports errors as a Stalled
// condition naming the field.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=2048
type Expression string

// SecretKeyRef selects one key of a Secret in the same namespace as the object
// that refers to it. The operator never reads the Secret itself: it is mounted
// into the workload that needs it.
type SecretKeyRef struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="name must be a Secret name: lowercase letters, digits, '-' and '.'"
	Name string `json:"name"`

	// Key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-._a-zA-Z0-9]+$')",message="key must be a Secret data key: letters, digits, '-', '_' and '.'"
	Key string `json:"key"`
}

// StoreReference says where a workload keeps its events, quarantine, runs and
// audit ledger.
type StoreReference struct {
	// SecretRef selects the key of a Secret that holds the store's DSN, for
	// example postgres://journey@db:5432/journey or sqlite:///data/journey.db.
	// +required
	SecretRef SecretKeyRef `json:"secretRef"`
}

// WorkloadReference names the objects the controller runs for a resource.
type WorkloadReference struct {
	// Kind of the workload: CronJob or Deployment.
	// +optional
	Kind string `json:"kind,omitempty"`

	// Name of the workload, in the resource's namespace.
	// +optional
	Name string `json:"name,omitempty"`

	// Service in front of the workload, for webhook receivers and evaluators.
	// +optional
	Service string `json:"service,omitempty"`
}
