package sampledata

// JourneyManifest counts what happened to the users. Counts "by
// construction" come from the generator's plan; "measured" ones are
// computed from the records written, so a test can recompute them from the
// files.
type JourneyManifest struct {
	Users                    int64 `json:"users"`
	ExistingSubscribers      int64 `json:"existingSubscribers"`
	NewSignups               int64 `json:"newSignups"`
	Trials                   int64 `json:"trials"`
	TrialConversions         int64 `json:"trialConversions"`
	TrialCancellations       int64 `json:"trialCancellations"`
	StillTrialing            int64 `json:"stillTrialing"`
	DirectSubscriptions      int64 `json:"directSubscriptions"`
	PayingUsers              int64 `json:"payingUsers"`
	VoluntaryChurn           int64 `json:"voluntaryChurn"`
	InvoluntaryChurn         int64 `json:"involuntaryChurn"`
	Churned                  int64 `json:"churned"`
	ExitSurveyResponses      int64 `json:"exitSurveyResponses"`
	PostTrialSurveyResponses int64 `json:"postTrialSurveyResponses"`
	SupportTickets           int64 `json:"supportTickets"`

	PaymentFailures PaymentFailures `json:"paymentFailures"`

	// AlertsAtAsOf counts, per User-scoped alert of the JourneyMap, the
	// users for whom its expression holds at asOf (measured; windows are
	// (asOf-168h, asOf] and (asOf-336h, asOf-168h] of occurredAt).
	AlertsAtAsOf map[string]int64 `json:"alertsAtAsOf"`
}

// PaymentFailures is what follows a failed renewal payment.
type PaymentFailures struct {
	// Users with at least one invoice.payment_failed.
	Users int64 `json:"users"`
	// Recovered: the retry three days later paid. InvoluntaryChurn: three
	// failures, then customer.subscription.deleted.
	Recovered        int64 `json:"recovered"`
	InvoluntaryChurn int64 `json:"involuntaryChurn"`
	// PlantedDrop: users made to stream far less after the failure.
	PlantedDrop int64 `json:"plantedDrop"`
	// Measured from the data, per user with a failure, comparing playback
	// minutes in the 7 days from the first failure, [t, t+168h), with the
	// 7 days before it, [t-168h, t): Drop, less than half; Kept, at least
	// half; NoBaseline, nothing streamed before; WindowIncomplete, the
	// failure is less than 7 days before asOf.
	Drop             int64 `json:"drop"`
	Kept             int64 `json:"kept"`
	NoBaseline       int64 `json:"noBaseline"`
	WindowIncomplete int64 `json:"windowIncomplete"`
}

// minutesIn sums user i's playback minutes with [from, to).
func (g *gen) minutesIn(i int, u *user, from, to int64) float64 {
	var ss [2]session
	sum := 0.0
	for d := max(from, 0) / day; d*day < to && d < int64(g.cfg.Days); d++ {
		n := g.sessions(i, u, d, &ss)
		for _, s := range ss[:n] {
			if s.t >= from && s.t < to {
				sum += float64(s.seconds) / 60
			}
		}
	}
	return sum
}

func (g *gen) journey() JourneyManifest {
	h := g.horizon
	j := JourneyManifest{Users: int64(len(g.users)), AlertsAtAsOf: map[string]int64{"StreamingDropAfterBillingFailure": 0}}
	before := func(t int32) bool { return t != none && int64(t) < h }
	for i := range g.users {
		u := &g.users[i]
		if u.has(fExisting) {
			j.ExistingSubscribers++
		} else {
			j.NewSignups++
		}
		if before(u.trialStart) {
			j.Trials++
			switch {
			case u.trialEnd() >= h:
				j.StillTrialing++
			case u.has(fConvert):
				j.TrialConversions++
			default:
				j.TrialCancellations++
			}
		}
		if !u.has(fExisting) && u.trialStart == none && before(u.anchor) {
			j.DirectSubscriptions++
		}
		if before(u.anchor) {
			j.PayingUsers++
		}
		if before(u.endAt) {
			j.Churned++
			switch u.endReason {
			case endVoluntary:
				j.VoluntaryChurn++
			case endPaymentFailed:
				j.InvoluntaryChurn++
			}
		}
		if before(u.exitSurvey) {
			j.ExitSurveyResponses++
		}
		if before(u.trialSurvey) {
			j.PostTrialSurveyResponses++
		}
		for _, t := range []int32{u.ticketAt, u.billTicket} {
			if t != none && int64(t) < h-supportStall {
				j.SupportTickets++
			}
		}
		if !before(u.failAt) {
			continue
		}
		pf := &j.PaymentFailures
		pf.Users++
		tf := int64(u.failAt)
		if u.has(fRecover) {
			if tf+3*day < h {
				pf.Recovered++
			}
		} else if before(u.endAt) {
			pf.InvoluntaryChurn++
		}
		if u.has(fDropper) {
			pf.PlantedDrop++
		}
		if tf+week > h {
			pf.WindowIncomplete++
		} else {
			pre, post := g.minutesIn(i, u, tf-week, tf), g.minutesIn(i, u, tf, tf+week)
			switch {
			case pre == 0:
				pf.NoBaseline++
			case post < 0.5*pre:
				pf.Drop++
			default:
				pf.Kept++
			}
		}
		// The alert at asOf: a failure in the last week, and less than half
		// the streaming of the week before.
		failedLastWeek := false
		attempts := int64(1)
		if !u.has(fRecover) {
			attempts = 3
		}
		for a := int64(0); a < attempts; a++ {
			if t := tf + a*3*day; t > h-week && t < h {
				failedLastWeek = true
			}
		}
		if failedLastWeek {
			last, prev := g.minutesIn(i, u, h-week+1, h+1), g.minutesIn(i, u, h-2*week+1, h-week+1)
			if last < 0.5*prev {
				j.AlertsAtAsOf["StreamingDropAfterBillingFailure"]++
			}
		}
	}
	return j
}
