package api_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	journeyv1alpha1 "github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// Bad input a user can write is refused at admission, and the message names
// the field and says what is allowed. Each entry starts from a realistic
// sample and breaks one thing.
var _ = Describe("admission", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	DescribeTable("refuses bad input with a message naming the field",
		func(base string, e edit, want ...string) {
			obj := sample(base, ns)
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

		// TouchpointSource: how records arrive.
		Entry("both batch and webhook", "TouchpointSource/billing-stripe",
			set("spec.webhook", `{path: /stripe, signature: {scheme: Stripe, secretRefs: [{name: whsec, key: secret}]}}`),
			"exactly one of spec.batch, spec.webhook or spec.stream must be set"),
		Entry("neither batch nor webhook", "TouchpointSource/billing-stripe", del("spec.batch"),
			"exactly one of spec.batch, spec.webhook or spec.stream must be set"),
		Entry("two connectors in batch", "TouchpointSource/billing-stripe",
			set("spec.batch.file", `{path: /data/events.jsonl, format: JSONLines}`),
			"spec.batch", "exactly one of spec.batch.http, spec.batch.file or spec.batch.sql must be set"),
		Entry("no connector in batch", "TouchpointSource/billing-stripe", del("spec.batch.http"),
			"exactly one of spec.batch.http, spec.batch.file or spec.batch.sql must be set"),
		Entry("schedule in prose", "TouchpointSource/billing-stripe", set("spec.batch.schedule", `every 15 minutes`),
			"spec.batch.schedule", "schedule must be five cron fields", "@hourly"),
		Entry("schedule with four fields", "TouchpointSource/billing-stripe", set("spec.batch.schedule", `"*/15 * * *"`),
			"spec.batch.schedule", "schedule must be five cron fields"),
		Entry("schedule with a CRON_TZ prefix", "TouchpointSource/billing-stripe", set("spec.batch.schedule", `"CRON_TZ=UTC 0 * * * *"`),
			"spec.batch.schedule", "set the zone in timeZone"),
		Entry("schedule with an unknown macro", "TouchpointSource/billing-stripe", set("spec.batch.schedule", `"@every 5m"`),
			"spec.batch.schedule", "schedule must be five cron fields"),
		Entry("time zone that is not an IANA name", "TouchpointSource/billing-stripe", set("spec.batch.timeZone", `Europe Berlin`),
			"spec.batch.timeZone", "IANA time zone name"),
		Entry("touchpoint with upper case", "TouchpointSource/billing-stripe", set("spec.touchpoint", `Billing`),
			"spec.touchpoint", "touchpoint must be a DNS label"),
		Entry("touchpoint with an underscore", "TouchpointSource/billing-stripe", set("spec.touchpoint", `billing_stripe`),
			"spec.touchpoint", "touchpoint must be a DNS label"),
		Entry("mapping without eventID", "TouchpointSource/billing-stripe", del("spec.mapping.eventID"),
			"spec.mapping.eventID: Required value"),
		Entry("mapping without occurredAt", "TouchpointSource/billing-stripe", del("spec.mapping.occurredAt"),
			"spec.mapping.occurredAt: Required value"),
		Entry("mapping with an empty userID", "TouchpointSource/billing-stripe", set("spec.mapping.userID", `""`),
			"spec.mapping.userID", "at least 1 chars"),
		Entry("attribute name that is not an identifier", "TouchpointSource/billing-stripe", set("spec.mapping.attributes", `{plan-id: record.plan}`),
			"spec.mapping.attributes", "attribute names must be identifiers"),
		Entry("http url with another scheme", "TouchpointSource/billing-stripe", set("spec.batch.http.url", `ftp://billing.example.internal/events`),
			"spec.batch.http.url", "url must be an absolute http or https URL"),
		Entry("http timeout in words", "TouchpointSource/billing-stripe", set("spec.batch.http.timeout", `30 seconds`),
			"spec.batch.http.timeout", "timeout must be a positive duration"),
		Entry("secret name with upper case", "TouchpointSource/billing-stripe", set("spec.batch.http.authSecretRef.name", `Stripe_API`),
			"spec.batch.http.authSecretRef.name", "name must be a Secret name"),
		Entry("file in an unknown format", "TouchpointSource/billing-stripe",
			set("spec.batch", `{schedule: "@daily", file: {path: /data/events.xml, format: XML}}`),
			`spec.batch.file.format: Unsupported value: "XML"`, `"JSONLines", "CSV", "JSON"`),
		Entry("file with both url and path", "TouchpointSource/billing-stripe",
			set("spec.batch", `{schedule: "@daily", file: {url: "s3://exports/events.jsonl", path: /data/events.jsonl, format: JSONLines}}`),
			"exactly one of spec.batch.file.url or spec.batch.file.path must be set"),
		Entry("sql cursor column without $1 in the query", "TouchpointSource/catalog-views",
			set("spec.batch.sql.query", `select * from catalog_views`),
			"spec.batch.sql", "must use $1"),
		Entry("signature scheme that is not supported", "TouchpointSource/billing-stripe-webhook", set("spec.webhook.signature.scheme", `GitHub`),
			`spec.webhook.signature.scheme: Unsupported value: "GitHub"`, `"Stripe", "HMACSHA256"`),
		Entry("financial webhook without a signature", "TouchpointSource/billing-stripe-webhook", del("spec.webhook.signature"),
			"spec.webhook.signature is required when spec.financial is true"),
		Entry("negative signature tolerance", "TouchpointSource/billing-stripe-webhook", set("spec.webhook.signature.tolerance", `-5m`),
			"spec.webhook.signature.tolerance", "tolerance must be a positive duration"),
		Entry("signature without secrets", "TouchpointSource/billing-stripe-webhook", set("spec.webhook.signature.secretRefs", `[]`),
			"spec.webhook.signature.secretRefs", "at least 1 items"),
		Entry("source name too long for its CronJob", "TouchpointSource/billing-stripe",
			set("metadata.name", `billing-stripe-events-from-the-eu-and-the-uk-accounts`),
			"metadata.name must be a DNS label of at most 45 characters"),
		Entry("source name with a dot", "TouchpointSource/billing-stripe", set("metadata.name", `billing.stripe`),
			"metadata.name must be a DNS label"),
		Entry("webhook path without a leading slash", "TouchpointSource/billing-stripe-webhook", set("spec.webhook.path", `stripe`),
			"spec.webhook.path", "path must start with '/'"),
		Entry("batch source without a mapping", "TouchpointSource/billing-stripe", del("spec.mapping"),
			"spec.mapping: Required value", "only a Segment source (spec.webhook.protocol: Segment) maps its messages by default"),
		Entry("webhook (JSON) without a mapping", "TouchpointSource/billing-stripe-webhook", del("spec.mapping"),
			"spec.mapping: Required value", "only a Segment source"),
		Entry("mapping without type", "TouchpointSource/billing-stripe-webhook", del("spec.mapping.type"),
			"spec.mapping.type: Required value", "only a Segment source has a default"),
		Entry("mapping without userID", "TouchpointSource/catalog-views", del("spec.mapping.userID"),
			"spec.mapping.userID: Required value"),
		Entry("protocol that is not supported", "TouchpointSource/app-events", set("spec.webhook.protocol", `Kafka`),
			`spec.webhook.protocol: Unsupported value: "Kafka"`, `"JSON", "Segment"`),
		Entry("Segment source with a signature", "TouchpointSource/app-events",
			set("spec.webhook.signature", `{scheme: HMACSHA256, secretRefs: [{name: hook, key: secret}]}`),
			"spec.webhook.signature: Forbidden", "signature belongs to protocol JSON"),
		Entry("Segment source without a write key", "TouchpointSource/app-events", del("spec.webhook.writeKeySecretRef"),
			"spec.webhook.writeKeySecretRef: Required value", "a Segment source needs writeKeySecretRef"),
		Entry("write key on a JSON webhook", "TouchpointSource/billing-stripe-webhook",
			set("spec.webhook.writeKeySecretRef", `{name: segment-write-key, key: key}`),
			"spec.webhook.writeKeySecretRef: Forbidden", "writeKeySecretRef belongs to protocol Segment"),
		Entry("write key on a webhook that names protocol JSON", "TouchpointSource/billing-stripe-webhook",
			set("spec.webhook", `{path: /stripe, protocol: JSON, writeKeySecretRef: {name: segment-write-key, key: key}, signature: {scheme: Stripe, secretRefs: [{name: whsec, key: secret}]}}`),
			"spec.webhook.writeKeySecretRef: Forbidden"),
		Entry("write key Secret name with upper case", "TouchpointSource/app-events", set("spec.webhook.writeKeySecretRef.name", `Segment`),
			"spec.webhook.writeKeySecretRef.name", "name must be a Secret name"),
		Entry("financial Segment source", "TouchpointSource/app-events", set("spec.financial", `true`),
			"a Segment source cannot be financial"),
		Entry("no receiver at all", "TouchpointSource/app-events", set("spec.webhook.replicas", `0`),
			"spec.webhook.replicas", "greater than or equal to 1"),

		// ValidationRule: the controls.
		Entry("check with two kinds", "ValidationRule/billing-controls",
			set("spec.checks[name=amount-non-negative].unique", `{key: record.id}`),
			"spec.checks[0]", "each check sets exactly one of expression, unique, relationship, notNull, acceptedValues, freshness or volume"),
		Entry("check with no kind", "ValidationRule/billing-controls", del("spec.checks[name=amount-non-negative].expression"),
			"each check sets exactly one of"),
		Entry("action that does not exist", "ValidationRule/billing-controls", set("spec.checks[name=amount-non-negative].action", `Drop`),
			`spec.checks[0].action: Unsupported value: "Drop"`, `"Reject", "Quarantine", "Warn"`),
		Entry("two checks with one name", "ValidationRule/billing-controls", set("spec.checks[name=required].name", `currency`),
			"spec.checks", "Duplicate value", `"currency"`),
		Entry("no checks", "ValidationRule/billing-controls", set("spec.checks", `[]`),
			"spec.checks", "at least 1 items"),
		Entry("check name that is not a DNS label", "ValidationRule/billing-controls", set("spec.checks[name=currency].name", `Currency_Code`),
			"check name must be a DNS label"),
		Entry("uniqueness window in days", "ValidationRule/billing-controls", set("spec.checks[name=one-payment-per-intent].unique.window", `30d`),
			"unique.window", "window must be a positive duration"),
		Entry("volume check with no limit", "ValidationRule/billing-controls", set("spec.checks[name=volume].volume", `{baselineRuns: 3}`),
			"volume needs minRecords, maxChangePercent or both"),
		Entry("relationship to a touchpoint that is not a DNS label", "ValidationRule/billing-controls",
			set("spec.checks[name=customer-known].relationship.touchpoint", `CRM`),
			"relationship.touchpoint", "touchpoint must be a DNS label"),
		Entry("accepted values that accept nothing", "ValidationRule/billing-controls",
			set("spec.checks[name=currency].acceptedValues.values", `[]`),
			"acceptedValues.values", "at least 1 items"),
		Entry("rule without a source selector", "ValidationRule/billing-controls", del("spec.sourceSelector"),
			"spec.sourceSelector: Required value"),

		// JourneyMap: stages, alerts, feedback.
		Entry("no stages", "JourneyMap/streaming-journey", set("spec.stages", `[]`),
			"spec.stages", "at least 1 items"),
		Entry("two stages with one name", "JourneyMap/streaming-journey", set("spec.stages[name=Trial].name", `Discovery`),
			"spec.stages", "Duplicate value", `"Discovery"`),
		Entry("stage name with a space", "JourneyMap/streaming-journey", set("spec.stages[name=AtRisk].name", `at risk`),
			"stage name must be a DNS label"),
		Entry("stage without enterWhen", "JourneyMap/streaming-journey", del("spec.stages[name=Trial].enterWhen"),
			"spec.stages[1].enterWhen: Required value"),
		Entry("alert scope that does not exist", "JourneyMap/streaming-journey", set("spec.alerts[name=TrialConversionLow].scope", `Team`),
			`Unsupported value: "Team"`, `"User", "Journey"`),
		Entry("alert name with a space", "JourneyMap/streaming-journey", set("spec.alerts[name=TrialConversionLow].name", `trial conversion low`),
			"alert name must start with a letter"),
		Entry("Journey-scoped alert with a user label", "JourneyMap/streaming-journey",
			set("spec.alerts[name=TrialConversionLow].labels", `{user: everyone}`),
			"a Journey-scoped alert cannot set the label 'user'"),
		Entry("survey on a stage that does not exist", "JourneyMap/streaming-journey", set("spec.feedback[name=exit-survey].onEnter", `Gone`),
			"every spec.feedback[].onEnter must name a stage in spec.stages"),
		Entry("evaluation more often than every 10s", "JourneyMap/streaming-journey", set("spec.evaluationInterval", `1s`),
			"spec.evaluationInterval", "at least 10s"),
		Entry("no shard", "JourneyMap/streaming-journey", set("spec.evaluation", `{shards: 0}`),
			"spec.evaluation.shards", "greater than or equal to 1"),
		Entry("more than 64 shards", "JourneyMap/streaming-journey", set("spec.evaluation", `{shards: 65}`),
			"spec.evaluation.shards", "less than or equal to 64"),
		Entry("a churn model over shards", "JourneyMap/streaming-journey", set("spec.evaluation", `{shards: 2}`),
			"spec.prediction", "needs spec.evaluation.shards of 1"),
		Entry("map name too long for its Service", "JourneyMap/streaming-journey",
			set("metadata.name", `streaming-journey-for-the-premium-plan-in-europe-2026`),
			"metadata.name must be a DNS label of at most 50 characters"),
		Entry("Alertmanager address without a scheme", "JourneyMap/streaming-journey", set("spec.notify.alertmanager.url", `alertmanager:9093`),
			"spec.notify.alertmanager.url", "url must be an absolute http or https URL"),
	)

	It("admits a Segment source with no mapping or part of one, and a webhook that names protocol JSON", func() {
		for name, rest := range map[string]string{
			"app-none":    `webhook: {path: /segment, protocol: Segment, writeKeySecretRef: {name: segment-write-key, key: key}, replicas: 3}`,
			"app-partial": `webhook: {path: /segment, protocol: Segment, writeKeySecretRef: {name: segment-write-key, key: key}}` + "\n  mapping: {type: '\"app.\" + record.type'}",
			"json-hook":   `webhook: {path: /hook, protocol: JSON}` + "\n  mapping: {eventID: record.id, userID: record.user, occurredAt: timestamp(record.at), type: record.type}",
		} {
			var src journeyv1alpha1.TouchpointSource
			create(ns, "apiVersion: journey.cjm.dev/v1alpha1\nkind: TouchpointSource\nmetadata: {name: "+name+"}\nspec:\n  touchpoint: app\n  "+rest+"\n", &src)
			Expect(src.Spec.Webhook.Protocol).NotTo(BeEmpty(), name)
		}
	})
})
