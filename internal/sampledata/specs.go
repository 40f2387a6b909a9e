package sampledata

import (
	"os"
	"path/filepath"
)

// Names of the ValidationRules and checks that expected.json refers to.
const (
	RuleBilling    = "billing-controls"
	RuleIdentity   = "identity-controls"
	RuleFeedHealth = "feed-health"

	CheckDecode              = "decode" // the pipeline's pseudo-check for undecodable records
	CheckAmountNonNegative   = "amount-non-negative"
	CheckOnePaymentPerIntent = "one-payment-per-intent"
	CheckCustomerKnown       = "customer-known"
	CheckInvoiceAmount       = "invoice-amount"
	CheckTestMode            = "test-mode"
	CheckBillingFresh        = "fresh"
	CheckUserKnown           = "user-known"
	CheckFeedFresh           = "feed-fresh"

	// FreshnessMaxAge of both freshness checks.
	FreshnessMaxAge = 26 * hour
)

// Specs are the manifests written next to the data, by file name. They
// carry no namespace (they land in "default", or wherever they are
// applied), and file paths are relative to the folder, as `journey run`
// resolves them.
var Specs = map[string]string{
	"touchpointsource-crm.yaml": `# CRM accounts exported from Salesforce as CSV: the customers the business
# knows. Billing and every other touchpoint check that their customer is here.
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata:
  name: crm-accounts
  labels:
    journey.cjm.dev/product: streaming
    journey.cjm.dev/domain: crm
spec:
  touchpoint: crm
  system: salesforce
  batch:
    schedule: "0 */6 * * *"
    timeZone: Etc/UTC
    file:
      path: data/crm/accounts.csv
      format: CSV
  mapping:
    eventID: record.account_id + "@" + record.updated_at
    userID: record.stripe_customer_id
    occurredAt: timestamp(record.updated_at)
    type: '"crm.account_updated"'
    attributes:
      account: record.account_id
      country: record.country
      channel: record.signup_channel
`,
	"touchpointsource-catalog.yaml": `# Catalog browsing from the analytics pipeline: who looked at which title.
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata:
  name: catalog-views
  labels:
    journey.cjm.dev/product: streaming
    journey.cjm.dev/domain: analytics
spec:
  touchpoint: catalog
  system: snowplow
  batch:
    schedule: "*/30 * * * *"
    timeZone: Etc/UTC
    file:
      path: data/catalog/views.jsonl
      format: JSONLines
  mapping:
    eventID: record.event_id
    userID: record.user_id
    occurredAt: timestamp(record.viewed_at)
    type: '"catalog.title_viewed"'
    attributes:
      title: record.title_id
      row: record.row
      position: record.position
      platform: record.platform
`,
	"touchpointsource-playback.yaml": `# Playback sessions from the video analytics: minutes streamed per session,
# the engagement signal.
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata:
  name: playback-sessions
  labels:
    journey.cjm.dev/product: streaming
    journey.cjm.dev/domain: analytics
spec:
  touchpoint: playback
  system: mux
  batch:
    schedule: "5 * * * *"
    timeZone: Etc/UTC
    file:
      path: data/playback/sessions.jsonl
      format: JSONLines
  mapping:
    eventID: record.session_id
    userID: record.user_id
    occurredAt: timestamp(record.ended_at)
    type: '"playback.session"'
    attributes:
      minutes: double(record.watched_seconds) / 60.0
      title: record.title_id
      device: record.device
`,
	"touchpointsource-billing.yaml": `# Stripe events exported every 15 minutes: trials, invoices, failed payments,
# refunds and cancellations. In SOX scope.
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata:
  name: billing-stripe
  labels:
    journey.cjm.dev/product: streaming
    journey.cjm.dev/domain: billing
spec:
  touchpoint: billing
  system: stripe
  financial: true
  compliance:                   # who may release or discard what it quarantines
    reviewers: {groups: [finance-controllers]}
    reviewWithin: 72h
  batch:
    schedule: "*/15 * * * *"
    timeZone: Etc/UTC
    file:
      path: data/billing/events.jsonl
      format: JSONLines
  mapping:
    eventID: record.id
    userID: record.data.object.customer
    occurredAt: timestamp(int(record.created))
    type: record.type
    # Refunds move money back: a negative amount. Subscription events move none.
    amount: >-
      record.type == "charge.refunded" ? -double(record.data.object.amount_refunded) / 100.0 :
      has(record.data.object.amount_paid) ? double(record.data.object.amount_paid) / 100.0 : dyn(null)
    currency: record.data.object.currency
    attributes:
      plan: >-
        has(record.data.object.lines) ? record.data.object.lines.data[0].plan.id :
        has(record.data.object.items) ? record.data.object.items.data[0].plan.id : null
      paymentIntent: record.data.object.payment_intent
      attempt: record.data.object.attempt_count
`,
	"touchpointsource-support.yaml": `# Help-desk tickets from Zendesk's incremental export: one record per update
# (new, open, solved).
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata:
  name: support-tickets
  labels:
    journey.cjm.dev/product: streaming
    journey.cjm.dev/domain: support
spec:
  touchpoint: support
  system: zendesk
  batch:
    schedule: "@hourly"
    timeZone: Etc/UTC
    file:
      path: data/support/tickets.jsonl
      format: JSONLines
  mapping:
    eventID: string(record.id) + "@" + record.updated_at
    userID: record.external_id
    occurredAt: timestamp(record.updated_at)
    type: '"support.ticket_" + record.status'
    attributes:
      ticket: record.id
      subject: record.subject
      priority: record.priority
      tags: record.tags
`,
	"touchpointsource-feedback.yaml": `# Survey responses as the survey tool posts them: the other half of the
# journey map's exit and post-trial surveys.
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata:
  name: survey-responses
  labels:
    journey.cjm.dev/product: streaming
    journey.cjm.dev/domain: feedback
spec:
  touchpoint: feedback
  system: typeform
  batch:
    schedule: "*/10 * * * *"
    timeZone: Etc/UTC
    file:
      path: data/feedback/responses.jsonl
      format: JSONLines
  mapping:
    eventID: record.event_id
    userID: record.form_response.hidden.user
    occurredAt: timestamp(record.form_response.submitted_at)
    type: '"feedback.survey_answered"'
    attributes:
      survey: record.form_response.hidden.survey
      score: double(record.form_response.calculated.score)
      reason: >-
        record.form_response.answers.exists(a, a.type == "choice") ?
        record.form_response.answers.filter(a, a.type == "choice")[0].choice.label : null
`,
	"validationrule-billing.yaml": `# SOX controls on billing: completeness and accuracy on the way in. Each
# record-level check catches one kind of anomaly planted in
# data/billing/events.jsonl; expected.json counts them.
apiVersion: journey.cjm.dev/v1alpha1
kind: ValidationRule
metadata:
  name: billing-controls
spec:
  sourceSelector:
    matchLabels: {journey.cjm.dev/domain: billing}
  checks:
  - name: amount-non-negative
    expression: event.amount == null || event.amount >= 0.0 || event.type == "charge.refunded"
    action: Quarantine
    message: negative amount on a payment
  - name: one-payment-per-intent
    # A failed payment and its successful retry share the payment intent;
    # two invoice.paid for one intent are a double charge.
    unique:
      key: 'record.type == "invoice.paid" ? record.data.object.payment_intent : null'
      window: 720h
    action: Quarantine
    message: a second payment for the same payment intent
  - name: customer-known
    relationship: {key: event.userID, touchpoint: crm}
    action: Quarantine
    message: customer is not known to CRM
  - name: required
    notNull: [event.userID]
    action: Reject
  - name: invoice-amount
    expression: '!event.type.startsWith("invoice.") || (event.amount != null && event.currency != null)'
    action: Quarantine
    message: invoice event without an amount or a currency
  - name: currency
    acceptedValues: {key: event.currency, values: [usd, eur, gbp]}
    action: Quarantine
  - name: test-mode
    expression: '!has(record.livemode) || record.livemode'
    action: Reject
    message: Stripe test-mode event in the live feed
  - name: fresh
    freshness: {maxAge: 26h}
    action: Warn
  - name: volume
    volume: {minRecords: 1, maxChangePercent: 60, baselineRuns: 7}
    action: Quarantine
`,
	"validationrule-identity.yaml": `# Every streaming touchpoint but CRM itself must name a customer the
# business knows.
apiVersion: journey.cjm.dev/v1alpha1
kind: ValidationRule
metadata:
  name: identity-controls
spec:
  sourceSelector:
    matchLabels: {journey.cjm.dev/product: streaming}
    matchExpressions:
    - {key: journey.cjm.dev/domain, operator: NotIn, values: [crm]}
  checks:
  - name: user-present
    notNull: [event.userID]
    action: Reject
    message: event without a customer ID
  - name: user-id-format
    expression: event.userID.matches('^cus_[A-Za-z0-9]{6,}$')
    action: Quarantine
    message: customer ID is not a Stripe customer ID
  - name: user-known
    relationship: {key: event.userID, touchpoint: crm}
    action: Warn
`,
	"validationrule-feed-health.yaml": `# Feed health of the analytics, CRM and help-desk feeds: a feed whose newest
# record is more than a day old has stopped delivering; its run is committed
# but held as Quarantined for someone to look at. Freshness is judged
# against the clock of the run: see README.md.
apiVersion: journey.cjm.dev/v1alpha1
kind: ValidationRule
metadata:
  name: feed-health
spec:
  sourceSelector:
    matchLabels: {journey.cjm.dev/product: streaming}
    matchExpressions:
    - {key: journey.cjm.dev/domain, operator: In, values: [analytics, crm, support]}
  checks:
  - name: feed-fresh
    freshness: {maxAge: 26h}
    action: Quarantine
    message: the feed has stopped delivering
  - name: feed-volume
    volume: {minRecords: 1, maxChangePercent: 80, baselineRuns: 7}
    action: Warn
`,
	"journeymap-streaming.yaml": `# The subscriber journey, from browsing the catalog to churn, with the alerts
# and surveys that act on it.
apiVersion: journey.cjm.dev/v1alpha1
kind: JourneyMap
metadata:
  name: streaming-journey
spec:
  sourceSelector:
    matchLabels: {journey.cjm.dev/product: streaming}
  conversionWindow: 336h
  evaluationInterval: 5m
  stages:
  - name: Discovery
    enterWhen: event.touchpoint == "catalog"
    description: browsed the catalog
  - name: Trial
    enterWhen: event.type == "customer.subscription.trial_started"
    description: started a free trial
  - name: Subscribed
    enterWhen: event.type == "invoice.paid"
    description: paid an invoice
  - name: Engaged
    enterWhen: user.sum("playback", "minutes", duration("168h")) >= 120.0
    description: streamed two hours or more in the last week
  - name: AtRisk
    enterWhen: user.count("billing", "invoice.payment_failed", duration("720h")) > 0
    description: a payment failed in the last 30 days
  - name: Churned
    enterWhen: event.type == "customer.subscription.deleted"
    description: the subscription ended
  alerts:
  - name: StreamingDropAfterBillingFailure
    scope: User
    expression: >
      user.count("billing", "invoice.payment_failed", duration("168h")) > 0 &&
      user.sum("playback", "minutes", duration("168h")) < 0.5 * user.sumBetween("playback", "minutes", duration("336h"), duration("168h"))
    for: 1h
    severity: warning
    annotations:
      summary: streaming fell by half after a failed payment
  - name: TrialConversionLow
    scope: Journey
    expression: journey.conversion("Trial", "Subscribed") < 0.15
    severity: critical
    annotations:
      summary: fewer than 15% of trials convert to a paid subscription
  notify:
    alertmanager: {url: "http://alertmanager.monitoring:9093"}
  feedback:
  - name: exit-survey
    onEnter: Churned
    webhook: {url: "https://surveys.example.internal/trigger"}
    cooldown: 720h
  - name: post-trial-survey
    onEnter: Subscribed
    webhook: {url: "https://surveys.example.internal/trigger"}
  dashboard: {enabled: true}
  prediction:                   # churn risk within two weeks, learnt from the data's own history
    horizon: 336h
  segments: [plan, country, device]
`,
	"kustomization.yaml": `# kubectl apply -k . creates the specs (not the data: in a cluster the file
# paths must name files the ingest pods mount).
resources:
- touchpointsource-crm.yaml
- touchpointsource-catalog.yaml
- touchpointsource-playback.yaml
- touchpointsource-billing.yaml
- touchpointsource-support.yaml
- touchpointsource-feedback.yaml
- validationrule-billing.yaml
- validationrule-identity.yaml
- validationrule-feed-health.yaml
- journeymap-streaming.yaml
`,
}

func writeSpecs(dir string) error {
	for name, text := range Specs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
