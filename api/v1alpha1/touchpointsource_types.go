package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TouchpointSourceSpec says where a touchpoint's records come from and how each
// raw record maps to a journey event.
// +kubebuilder:validation:XValidation:rule="(has(self.batch) ? 1 : 0) + (has(self.webhook) ? 1 : 0) + (has(self.stream) ? 1 : 0) == 1",message="exactly one of spec.batch, spec.webhook or spec.stream must be set: batch pulls on a schedule, webhook receives pushed events, stream consumes a Kafka topic"
// +kubebuilder:validation:XValidation:rule="!has(self.webhook) || !has(self.financial) || !self.financial || has(self.webhook.signature) || (has(self.webhook.protocol) && self.webhook.protocol == 'Segment')",message="spec.webhook.signature is required when spec.financial is true: financial events must be signed by their sender"
// +kubebuilder:validation:XValidation:rule="!has(self.financial) || !self.financial || !has(self.webhook) || !has(self.webhook.protocol) || self.webhook.protocol != 'Segment'",message="a Segment source cannot be financial: Segment's protocol does not sign events, and financial events must be signed by their sender (protocol JSON with spec.webhook.signature)"
// +kubebuilder:validation:XValidation:rule="has(self.mapping) || (has(self.webhook) && has(self.webhook.protocol) && self.webhook.protocol == 'Segment')",fieldPath=".mapping",reason="FieldValueRequired",message="spec.mapping is required: only a Segment source (spec.webhook.protocol: Segment) maps its messages by default"
// +kubebuilder:validation:XValidation:rule="!has(self.mapping) || has(self.mapping.eventID) || (has(self.webhook) && has(self.webhook.protocol) && self.webhook.protocol == 'Segment')",fieldPath=".mapping.eventID",reason="FieldValueRequired",message="eventID is required: it identifies the event at its source, so redeliveries count once (only a Segment source has a default, messageId)"
// +kubebuilder:validation:XValidation:rule="!has(self.mapping) || has(self.mapping.userID) || (has(self.webhook) && has(self.webhook.protocol) && self.webhook.protocol == 'Segment')",fieldPath=".mapping.userID",reason="FieldValueRequired",message="userID is required: the customer the event belongs to (only a Segment source has a default, userId or anonymousId)"
// +kubebuilder:validation:XValidation:rule="!has(self.mapping) || has(self.mapping.occurredAt) || (has(self.webhook) && has(self.webhook.protocol) && self.webhook.protocol == 'Segment')",fieldPath=".mapping.occurredAt",reason="FieldValueRequired",message="occurredAt is required: when the event happened, e.g. timestamp(record.time) (only a Segment source has a default, timestamp)"
// +kubebuilder:validation:XValidation:rule="!has(self.mapping) || has(self.mapping.type) || (has(self.webhook) && has(self.webhook.protocol) && self.webhook.protocol == 'Segment')",fieldPath=".mapping.type",reason="FieldValueRequired",message="type is required: the kind of event, e.g. record.type (only a Segment source has a default, the event or the call)"
// +kubebuilder:validation:XValidation:rule="!has(self.compliance) || (has(self.financial) && self.financial)",message="spec.compliance applies to financial sources only: set spec.financial to true or remove spec.compliance"
type TouchpointSourceSpec struct {
	// Touchpoint is where the customer touched the service, as a DNS label:
	// catalog, playback, billing, support, feedback, crm, ... Journey
	// expressions and relationship checks refer to events by this name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="touchpoint must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit (e.g. billing)"
	Touchpoint string `json:"touchpoint"`

	// System is the source system that records the touchpoint (stripe, zendesk,
	// salesforce, ...). It is recorded in every event's lineage.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	System string `json:"system,omitempty"`

	// Financial puts the source in SOX scope: every run is written to the
	// hash-chained audit ledger, failing records are quarantined for review,
	// and amount totals are reconciled as read and as loaded.
	// +optional
	Financial bool `json:"financial,omitempty"`

	// Compliance names who may review the quarantine of a financial source,
	// and how soon records must be reviewed.
	// +optional
	Compliance *Compliance `json:"compliance,omitempty"`

	// Suspend stops new runs (batch) or scales the receiver (webhook) or
	// the consumer (stream) to zero. Records already stored are kept.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// Batch pulls records on a schedule. Exactly one of batch, webhook and
	// stream is set.
	// +optional
	Batch *BatchSource `json:"batch,omitempty"`

	// Webhook receives records pushed by the source system. Exactly one of
	// batch, webhook and stream is set.
	// +optional
	Webhook *WebhookSource `json:"webhook,omitempty"`

	// Stream consumes records from a Kafka topic as they are produced.
	// Exactly one of batch, webhook and stream is set.
	// +optional
	Stream *StreamSource `json:"stream,omitempty"`

	// Mapping turns a raw record into a journey event. Required, with
	// eventID, userID, occurredAt and type, except for a Segment source
	// (spec.webhook.protocol: Segment), whose messages map by default:
	// eventID messageId, userID userId or else anonymousId, occurredAt
	// timestamp (corrected for the client's clock), type the track call's
	// event or else the call (identify, page, screen, group, alias), and
	// attributes every property and trait. Each field given here replaces
	// its default; each attribute named here replaces the property or
	// trait of that name.
	// +optional
	Mapping EventMapping `json:"mapping,omitzero"`

	// Store overrides the operator's default store for this source.
	// +optional
	Store *StoreReference `json:"store,omitempty"`
}

// BatchSource pulls records on a cron schedule through exactly one connector.
// +kubebuilder:validation:XValidation:rule="(has(self.http) ? 1 : 0) + (has(self.file) ? 1 : 0) + (has(self.sql) ? 1 : 0) == 1",message="exactly one of spec.batch.http, spec.batch.file or spec.batch.sql must be set"
type BatchSource struct {
	// Schedule in standard cron format: five fields (minute hour day-of-month
	// month day-of-week), or one of @yearly, @annually, @monthly, @weekly,
	// @daily, @midnight, @hourly. Use timeZone rather than a CRON_TZ prefix.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*?/,-]+( +[0-9A-Za-z*?/,-]+){4})$')",message="schedule must be five cron fields (minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\") or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly; set the zone in timeZone"
	Schedule string `json:"schedule"`

	// TimeZone of the schedule, an IANA name such as Etc/UTC or Europe/Berlin.
	// Defaults to the time zone of the kube-controller-manager.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$')",message="timeZone must be an IANA time zone name such as Etc/UTC or Europe/Berlin"
	TimeZone *string `json:"timeZone,omitempty"`

	// HTTP reads pages of JSON records from an HTTP API.
	// +optional
	HTTP *HTTPConnector `json:"http,omitempty"`

	// File reads records from a file or object.
	// +optional
	File *FileConnector `json:"file,omitempty"`

	// SQL reads records from a PostgreSQL query.
	// +optional
	SQL *SQLConnector `json:"sql,omitempty"`
}

// HTTPConnector reads JSON records from an HTTP API, page by page.
type HTTPConnector struct {
	// URL of the endpoint that lists records.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="url must be an absolute http or https URL, e.g. https://billing.example.internal/v1/events"
	URL string `json:"url"`

	// AuthSecretRef selects a Secret key whose value is sent as a Bearer token.
	// +optional
	AuthSecretRef *SecretKeyRef `json:"authSecretRef,omitempty"`

	// RecordsPath is the dot-separated path to the array of records in each
	// response body (e.g. data or result.items). Empty: the body is the array.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9_-]+([.][A-Za-z0-9_-]+)*$')",message="recordsPath must be field names separated by dots, e.g. data or result.items"
	RecordsPath string `json:"recordsPath,omitempty"`

	// Pagination follows a cursor from page to page.
	// +optional
	Pagination *Pagination `json:"pagination,omitempty"`

	// Incremental asks only for records newer than the last run's cursor.
	// +optional
	Incremental *Incremental `json:"incremental,omitempty"`

	// Timeout of each request. Defaults to 30s.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="timeout must be a positive duration such as 30s or 2m"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// Pagination describes cursor pagination. The expressions see `body` (the
// decoded response) and `records` (the array at recordsPath).
type Pagination struct {
	// CursorParam is the query parameter that carries the cursor to the next
	// request, e.g. starting_after.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	CursorParam string `json:"cursorParam"`

	// NextCursor computes the next cursor from the page, e.g.
	// records[size(records)-1].id.
	// +required
	NextCursor Expression `json:"nextCursor"`

	// HasMore says whether another page follows, e.g. body.has_more. Without
	// it, paging stops at the first empty page.
	// +optional
	HasMore Expression `json:"hasMore,omitempty"`
}

// Incremental makes each run start where the last successful one stopped.
type Incremental struct {
	// Param is the query parameter that carries the stored cursor, e.g.
	// created[gte].
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Param string `json:"param"`

	// Cursor computes a record's cursor value over `record`, e.g.
	// record.created. The largest value of a committed run is stored.
	// +required
	Cursor Expression `json:"cursor"`
}

// FileFormat is how a file's records are encoded.
// +kubebuilder:validation:Enum=JSONLines;CSV;JSON
type FileFormat string

const (
	FileFormatJSONLines FileFormat = "JSONLines"
	FileFormatCSV       FileFormat = "CSV"
	FileFormatJSON      FileFormat = "JSON"
)

// FileConnector reads records from exactly one of a URL or a path.
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.path)",message="exactly one of spec.batch.file.url or spec.batch.file.path must be set"
type FileConnector struct {
	// URL of the file: https://, http:// or s3://bucket/key.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https', 's3']",message="url must be an absolute http, https or s3 URL"
	URL string `json:"url,omitempty"`

	// Path of the file in the ingest pod (from a mounted volume), or relative to
	// the spec's folder when run locally with `journey run`.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Path string `json:"path,omitempty"`

	// Format of the records: JSONLines (one object per line), CSV (a header row
	// names the fields) or JSON (an array of objects).
	// +required
	Format FileFormat `json:"format"`
}

// SQLConnector reads records from a PostgreSQL query, streamed.
// +kubebuilder:validation:XValidation:rule="!has(self.cursorColumn) || self.query.contains('$1')",message="spec.batch.sql.query must use $1 for the last cursor value when cursorColumn is set, e.g. where updated_at > $1"
type SQLConnector struct {
	// DSNSecretRef selects the Secret key that holds the connection string.
	// +required
	DSNSecretRef SecretKeyRef `json:"dsnSecretRef"`

	// Query returns one row per record; its columns become the record's
	// fields. With cursorColumn, $1 is the cursor the last committed run
	// stored, as text, or NULL on the first run: cast it to the column's type
	// and let NULL mean everything, e.g.
	// where updated_at > coalesce($1::timestamptz, '-infinity') order by updated_at
	// (an integer column: where id > coalesce($1::bigint, 0) order by id).
	// Order by the cursor column. Timestamps are stored as RFC 3339 in UTC.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8192
	Query string `json:"query"`

	// CursorColumn is the column whose largest value is stored after each
	// committed run and passed as $1 to the next one.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z_][A-Za-z0-9_]*$')",message="cursorColumn must be a column name: letters, digits and '_'"
	CursorColumn string `json:"cursorColumn,omitempty"`
}

// WebhookSource receives records pushed by the source system over HTTPS.
// +kubebuilder:validation:XValidation:rule="!has(self.signature) || !has(self.protocol) || self.protocol != 'Segment'",fieldPath=".signature",reason="FieldValueForbidden",message="signature belongs to protocol JSON: a Segment source authenticates its clients with writeKeySecretRef"
// +kubebuilder:validation:XValidation:rule="!has(self.writeKeySecretRef) || (has(self.protocol) && self.protocol == 'Segment')",fieldPath=".writeKeySecretRef",reason="FieldValueForbidden",message="writeKeySecretRef belongs to protocol Segment: set protocol: Segment, or verify requests with signature"
// +kubebuilder:validation:XValidation:rule="has(self.writeKeySecretRef) || !has(self.protocol) || self.protocol != 'Segment'",fieldPath=".writeKeySecretRef",reason="FieldValueRequired",message="a Segment source needs writeKeySecretRef: the Secret key that holds the write key its clients send"
type WebhookSource struct {
	// Path the receiver serves, e.g. /stripe. A Segment source serves
	// Segment's calls under it: <path>/v1/batch, /v1/track, /v1/identify,
	// /v1/page, /v1/screen, /v1/group and /v1/alias, so clients take
	// http://<source>-receiver.<namespace><path> as their endpoint.
	// +required
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^/[A-Za-z0-9._~/-]*$')",message="path must start with '/' and contain only letters, digits and . _ ~ / -"
	Path string `json:"path"`

	// Protocol the receiver speaks. JSON (when unset): each request's body
	// is one record, a JSON object, verified by signature when it is set.
	// Segment: Segment's HTTP Tracking API, its clients (analytics.js,
	// analytics-go, the mobile libraries, or a CDP forwarding to it)
	// authenticated by the write key in writeKeySecretRef; messageId
	// deduplicates, timestamps are corrected for the client's clock as
	// Segment corrects them, and spec.mapping has defaults.
	// +optional
	Protocol WebhookProtocol `json:"protocol,omitempty"`

	// Signature verifies each request (protocol JSON). Required for
	// financial sources.
	// +optional
	Signature *WebhookSignature `json:"signature,omitempty"`

	// WriteKeySecretRef selects the Secret key that holds the write key
	// (protocol Segment, where it is required). A request is accepted when
	// it carries the key as its HTTP Basic username or as writeKey in its
	// body.
	// +optional
	WriteKeySecretRef *SecretKeyRef `json:"writeKeySecretRef,omitempty"`

	// Replicas of the receiver. Unset, the operator leaves the count to
	// whoever scales the Deployment (one replica at first; a
	// HorizontalPodAutoscaler or kubectl scale from then on). Set, the
	// operator keeps the Deployment at that count, and from 2 on keeps a
	// PodDisruptionBudget that lets one receiver be evicted at a time.
	// Receivers share the source's store: a delivery sent to two of them
	// at once is stored once.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Replicas *int32 `json:"replicas,omitempty"`
}

// WebhookProtocol is what a webhook receiver speaks.
// +kubebuilder:validation:Enum=JSON;Segment
type WebhookProtocol string

const (
	// WebhookProtocolJSON: one JSON record per request, optionally signed.
	// An unset protocol is JSON.
	WebhookProtocolJSON WebhookProtocol = "JSON"
	// WebhookProtocolSegment: Segment's HTTP Tracking API.
	WebhookProtocolSegment WebhookProtocol = "Segment"
)

// SignatureScheme is how a webhook request is signed.
// +kubebuilder:validation:Enum=Stripe;HMACSHA256
type SignatureScheme string

const (
	// SignatureStripe is Stripe's Stripe-Signature header: t=<unix>,v1=<hex
	// HMAC-SHA256 of "t.body">.
	SignatureStripe SignatureScheme = "Stripe"
	// SignatureHMACSHA256 is a hex HMAC-SHA256 of the body in a header.
	SignatureHMACSHA256 SignatureScheme = "HMACSHA256"
)

// WebhookSignature says how to verify that a request came from the source.
type WebhookSignature struct {
	// Scheme of the signature: Stripe or HMACSHA256.
	// +required
	Scheme SignatureScheme `json:"scheme"`

	// SecretRefs select the signing secrets. A request is accepted if any of
	// them verifies it, so secrets can be rotated without downtime.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	SecretRefs []SecretKeyRef `json:"secretRefs"`

	// Tolerance is how old a signed timestamp may be (Stripe scheme), against
	// replays. Defaults to 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="tolerance must be a positive duration such as 5m"
	Tolerance *metav1.Duration `json:"tolerance,omitempty"`

	// Header carrying the signature for the HMACSHA256 scheme. Defaults to
	// X-Signature.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9-]+$')",message="header must be an HTTP header name: letters, digits and '-'"
	Header string `json:"header,omitempty"`
}

// EventMapping maps a raw record to a journey event with CEL over `record`.
// eventID, userID, occurredAt and type are required (a Segment source has
// defaults for them); a record for which one of them fails to evaluate is
// quarantined with the reason.
type EventMapping struct {
	// EventID identifies the event at its source; together with the source it
	// is the deduplication key, so redeliveries are counted once.
	// +optional
	EventID Expression `json:"eventID,omitempty"`

	// UserID is the customer the event belongs to.
	// +optional
	UserID Expression `json:"userID,omitempty"`

	// OccurredAt is when the event happened, a CEL timestamp, e.g.
	// timestamp(int(record.created)) or timestamp(record.time).
	// +optional
	OccurredAt Expression `json:"occurredAt,omitempty"`

	// Type of the event, e.g. record.type or "playback.minutes".
	// +optional
	Type Expression `json:"type,omitempty"`

	// Amount of money the event moves, as a double in major units.
	// +optional
	Amount Expression `json:"amount,omitempty"`

	// Currency of the amount, an ISO 4217 code.
	// +optional
	Currency Expression `json:"currency,omitempty"`

	// Attributes are further named values of the event (plan, minutes, title,
	// ...), each an expression over `record`.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_]{0,62}$'))",message="attribute names must be identifiers: a letter or '_' followed by letters, digits or '_', at most 63 characters"
	Attributes map[string]Expression `json:"attributes,omitempty"`
}

// RunOutcome is how an ingest run ended.
// +kubebuilder:validation:Enum=Succeeded;Failed;Quarantined;Stale;VolumeAnomaly
type RunOutcome string

const (
	RunSucceeded   RunOutcome = "Succeeded"
	RunFailed      RunOutcome = "Failed"
	RunQuarantined RunOutcome = "Quarantined"
	// RunStale: a freshness check whose action is Quarantine failed, the
	// feed's newest event being older than its maxAge. What the run read
	// was committed.
	RunStale RunOutcome = "Stale"
	// RunVolumeAnomaly: a volume check whose action is Quarantine failed,
	// the run reading fewer records than minRecords or a count too far off
	// the recent runs'. What the run read was committed.
	RunVolumeAnomaly RunOutcome = "VolumeAnomaly"
)

// RunSummary is what one ingest run read, loaded and set aside.
type RunSummary struct {
	// ID of the run, as recorded in the store and the audit ledger.
	// +optional
	ID string `json:"id,omitempty"`

	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// Outcome: Succeeded, Failed (nothing was committed), Quarantined
	// (committed, with records held for review), Stale (committed, but a
	// freshness check found the feed's newest event too old) or
	// VolumeAnomaly (committed, but a volume check found the count off).
	// A stale feed wins over a volume anomaly, and either over held records;
	// the message names every check that failed.
	// +optional
	Outcome RunOutcome `json:"outcome,omitempty"`

	// Message says why a run failed or what it quarantined, in one sentence.
	// +optional
	Message string `json:"message,omitempty"`

	// Read is the number of records read from the source.
	Read int64 `json:"read"`
	// Accepted is the number of new events written.
	Accepted int64 `json:"accepted"`
	// Duplicates is the number of records already stored (redeliveries).
	Duplicates int64 `json:"duplicates"`
	// Quarantined is the number of records held for review.
	Quarantined int64 `json:"quarantined"`
	// Rejected is the number of records dropped by Reject checks.
	Rejected int64 `json:"rejected"`
	// Warnings is the number of Warn check failures; those records were accepted.
	// +optional
	Warnings int64 `json:"warnings,omitempty"`

	// AmountTotal is the sum of amounts as read (financial sources), a decimal
	// string so it is exact.
	// +optional
	AmountTotal string `json:"amountTotal,omitempty"`

	// AmountLoaded is the sum of amounts of the accepted events.
	// +optional
	AmountLoaded string `json:"amountLoaded,omitempty"`

	// AmountDuplicates, AmountQuarantined and AmountRejected are the sums
	// of the amounts of those records, so that in amounts too
	// read = loaded + duplicates + quarantined + rejected.
	// +optional
	AmountDuplicates string `json:"amountDuplicates,omitempty"`
	// +optional
	AmountQuarantined string `json:"amountQuarantined,omitempty"`
	// +optional
	AmountRejected string `json:"amountRejected,omitempty"`

	// Currency of the totals when all amounts share one.
	// +optional
	Currency string `json:"currency,omitempty"`

	// Cursor stored by the run, for incremental sources.
	// +optional
	Cursor string `json:"cursor,omitempty"`

	// ConfigHash of the rendered configuration the run used.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// LedgerHash of the audit ledger entry the run wrote.
	// +optional
	LedgerHash string `json:"ledgerHash,omitempty"`

	// LedgerProblem says what did not verify when the run, once committed,
	// walked the audit ledger's chain; empty when it verified.
	// +optional
	LedgerProblem string `json:"ledgerProblem,omitempty"`
}

// RunCounts counts finished runs.
type RunCounts struct {
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
}

// SourceMode is how a source receives records.
type SourceMode string

const (
	SourceModeBatch   SourceMode = "Batch"
	SourceModeWebhook SourceMode = "Webhook"
	SourceModeStream  SourceMode = "Stream"
)

// TouchpointSourceStatus is what the controller and the last runs observed.
type TouchpointSourceStatus struct {
	// ObservedGeneration is the generation the status describes; -1 until the
	// controller has looked at the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled, and AuditCompliant for
	// financial sources.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Mode is Batch, Webhook or Stream.
	// +optional
	Mode SourceMode `json:"mode,omitempty"`

	// Workload the controller runs for this source.
	// +optional
	Workload *WorkloadReference `json:"workload,omitempty"`

	// LastRun is the newest finished run.
	// +optional
	LastRun *RunSummary `json:"lastRun,omitempty"`

	// LastSuccessfulRunTime is when the newest successful run completed.
	// +optional
	LastSuccessfulRunTime *metav1.Time `json:"lastSuccessfulRunTime,omitempty"`

	// RecentRuns are the last five runs, newest first.
	// +optional
	// +kubebuilder:validation:MaxItems=5
	RecentRuns []RunSummary `json:"recentRuns,omitempty"`

	// Runs counts finished runs by outcome.
	// +optional
	Runs *RunCounts `json:"runs,omitempty"`

	// Quarantine is what the source holds for review, as its newest run or
	// QuarantineReview reported it (financial sources).
	// +optional
	Quarantine *QuarantineStatus `json:"quarantine,omitempty"`

	// LastHandledRequestedAt echoes the journey.cjm.dev/requested-at annotation
	// value handled last.
	// +optional
	LastHandledRequestedAt string `json:"lastHandledRequestedAt,omitempty"`
}

// TouchpointSource is one place where customers touch the service and the
// system that records it: how records are read or received, and how each maps
// to a journey event.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 45 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 45 characters: it names the source's CronJob (<name>-ingest, 52 at most), Service (<name>-receiver) and Deployment (<name>-receiver or <name>-consumer)"
// +kubebuilder:resource:shortName=tps,categories=journey
// +kubebuilder:printcolumn:name="Touchpoint",type=string,JSONPath=`.spec.touchpoint`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.status.mode`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.batch.schedule`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Last Run",type=date,JSONPath=`.status.lastRun.completionTime`
// +kubebuilder:printcolumn:name="Last Result",type=string,JSONPath=`.status.lastRun.outcome`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TouchpointSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec TouchpointSourceSpec `json:"spec"`

	// +kubebuilder:default={observedGeneration:-1}
	Status TouchpointSourceStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// TouchpointSourceList is a list of TouchpointSources.
type TouchpointSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TouchpointSource `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TouchpointSource{}, &TouchpointSourceList{})
}
