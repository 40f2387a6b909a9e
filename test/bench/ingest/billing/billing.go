// Package billing is make bench-ingest's input: Stripe-shaped billing
// records with planted anomalies, the CRM accounts they refer to, and the
// sources and checks that ingest them. BenchmarkClientSide
// (internal/ingest) runs the same.
package billing

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// Users is how many CRM users the billing records refer to.
const Users = 50_000

// Source is the bench's source name ("crm" or "billing") reading file: the
// CRM accounts, or the billing records with seven checks (three
// expressions, a unique payment intent within 720h, a relationship to the
// CRM users, notNull, acceptedValues).
func Source(name, file string) runconfig.Source {
	labels := map[string]string{"domain": name}
	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name, Labels: labels},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: name, System: "bench", Financial: name == "billing",
			Batch: &v1alpha1.BatchSource{Schedule: "@hourly", File: &v1alpha1.FileConnector{Path: file, Format: v1alpha1.FileFormatJSONLines}},
		},
	}
	if name == "crm" {
		src.Spec.Mapping = v1alpha1.EventMapping{EventID: "record.id", UserID: "record.user", OccurredAt: "timestamp(int(record.created))", Type: `"crm.account"`}
		return render.SourceConfig(src, nil)
	}
	src.Spec.Mapping = v1alpha1.EventMapping{
		EventID: "record.id", UserID: "record.data.object.customer", OccurredAt: "timestamp(int(record.created))", Type: "record.type",
		Amount: "double(record.data.object.amount_paid) / 100.0", Currency: "record.data.object.currency",
		Attributes: map[string]v1alpha1.Expression{"paymentIntent": "record.data.object.payment_intent"},
	}
	rule := v1alpha1.ValidationRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "billing-controls"},
		Spec: v1alpha1.ValidationRuleSpec{Checks: []v1alpha1.Check{
			{Name: "amount-non-negative", Expression: "event.amount == null || event.amount >= 0.0", Action: v1alpha1.ActionQuarantine},
			{Name: "one-payment-per-intent", Unique: &v1alpha1.UniqueCheck{Key: "record.data.object.payment_intent", Window: &metav1.Duration{Duration: 720 * time.Hour}}, Action: v1alpha1.ActionQuarantine},
			{Name: "customer-known", Relationship: &v1alpha1.RelationshipCheck{Key: "event.userID", Touchpoint: "crm"}, Action: v1alpha1.ActionQuarantine},
			{Name: "required", NotNull: []v1alpha1.Expression{"event.userID"}, Action: v1alpha1.ActionReject},
			{Name: "currency", AcceptedValues: &v1alpha1.AcceptedValuesCheck{Key: "event.currency", Values: []string{"usd", "eur", "gbp"}}, Action: v1alpha1.ActionWarn},
			{Name: "test-mode", Expression: "!has(record.livemode) || record.livemode", Action: v1alpha1.ActionReject},
			{Name: "invoice-amount", Expression: `!event.type.startsWith("invoice.") || event.amount != null`, Action: v1alpha1.ActionQuarantine},
		}},
	}
	return render.SourceConfig(src, []v1alpha1.ValidationRule{rule})
}

// WriteCRM writes the Users accounts.
func WriteCRM(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for u := 0; u < Users; u++ {
		fmt.Fprintf(w, `{"id":"acct_%d","user":"cus_%06d","created":1756684800}`+"\n", u, u)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// WriteBilling writes n Stripe-shaped records of the Users, about 1% of
// them with a planted anomaly.
func WriteBilling(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"invoice.paid", "invoice.paid", "invoice.paid", "invoice.payment_failed", "charge.refunded"}
	for i := 0; i < n; i++ {
		cust := fmt.Sprintf("cus_%06d", r.IntN(Users))
		amount := 999 + r.IntN(2000)
		currency, pi, live := "usd", fmt.Sprintf("pi_%d", i), "true"
		switch r.IntN(400) {
		case 0:
			amount = -amount
		case 1:
			cust = "cus_unknown"
		case 2:
			pi = fmt.Sprintf("pi_%d", i/2) // a second payment of an intent
		case 3:
			currency = "xxx"
		}
		if r.IntN(1000) == 0 {
			live = "false"
		}
		fmt.Fprintf(w, `{"id":"evt_%d","type":%q,"created":%d,"livemode":%s,"data":{"object":{"customer":%q,"amount_paid":%d,"currency":%q,"payment_intent":%q}}}`+"\n",
			i, types[r.IntN(len(types))], 1756684800+i, live, cust, amount, currency, pi)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
