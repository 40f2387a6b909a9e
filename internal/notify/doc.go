// Package notify delivers what an evaluation of a JourneyMap found to the
// receivers its spec names: firing alerts to Alertmanager (API v2) and to
// generic webhooks, and survey requests to feedback triggers.
//
// Every delivery is a JSON POST retried with exponential backoff and full
// jitter on network errors, 429 and 5xx, a bounded number of times and never
// past the caller's context. Other 4xx are final: the request itself is
// wrong. Errors (*DeliveryError) name the target, the URL without query or
// password, the status and at most 256 bytes of the response body; nothing
// here logs, and no token or payload ends up in an error.
//
// What has been delivered is kept in memory per target (which alerts fired,
// when they were last sent, which must still be resolved) and can be
// exported as JSON and imported again, so an evaluator that stores it
// survives a restart without re-notifying or forgetting to resolve.
//
// A typical evaluator:
//
//	n := notify.New(spec.Notify, notify.AlertOptions{
//		EvaluationInterval: spec.EvaluationInterval.Duration,
//		GeneratorURL:       serviceURL,
//	}, notify.Options{Secrets: secrets})
//	_ = n.Import(stored)         // once, before the first Send
//	for each evaluation {
//		err := n.Send(ctx, snap) // errors name the failing targets
//		stored, _ = n.Export()   // persist with the evaluation
//	}
//
// Send (or Flush between evaluations) must be called at least once per
// resend interval for Alertmanager to keep the alerts active: each firing
// alert is sent with endsAt = now + 4 × max(resend interval, evaluation
// interval), as Prometheus does.
package notify
