package sampledata

import "math"

// Times inside the generator are seconds since the start (int32 fits ±68
// years); none marks an absent one.
const (
	minute        = 60
	hour          = 60 * minute
	day           = 24 * hour
	week          = 7 * day
	trialLength   = 7 * day
	billingPeriod = 30 * day
	none          = math.MinInt32
)

// The shape of the population. Shares are of all users unless said.
const (
	shareExisting     = 0.20 // subscribed before the start
	shareTrial        = 0.45 // of new users: start a 7-day trial
	shareDirect       = 0.06 // of new users: subscribe without a trial
	shareConvert      = 0.35 // of trials: pay at the end of the trial
	shareFail         = 0.14 // of paying users: one renewal payment fails
	shareDropper      = 0.65 // of failing users: stream far less afterwards
	shareDropperRecov = 0.50 // of droppers: pay on the retry (the rest churn)
	shareVoluntary    = 0.08 // of paying users without a failure: cancel
	shareRefund       = 0.02 // of paid invoices: refunded a few days later
	shareDupPayment   = 0.012
	shareRedelivery   = 0.01 // of billing events: delivered twice
	shareBillTicket   = 0.35 // of failing users: open a billing ticket
	shareTicket       = 0.05 // of users: open some other ticket
	shareExitSurvey   = 0.30 // of churned users: answer the exit survey
	shareTrialSurvey  = 0.20 // of converted trials: answer the post-trial survey
	// Planted billing anomalies, per user.
	shareUnknown  = 0.004
	shareNegative = 0.0025
	shareNoCurr   = 0.0025
	shareTestMode = 0.003
	// Planted churn drivers (for the churn model to find): who cancels
	// voluntarily depends on how much they stream and on their plan.
	// dropKeep and dropMinutes scale a dropper's sessions after the failure.
	dropKeep    = 0.35
	dropMinutes = 0.45
	// supportStall is how long before the end the help-desk export stopped:
	// the late feed.
	supportStall = 4 * day
)

const (
	fExisting uint8 = 1 << iota
	fConvert
	fRecover
	fDropper
)

// Why a subscription ended.
const (
	endTrialCanceled uint8 = iota + 1
	endVoluntary
	endPaymentFailed
)

// Planted anomalies attached to a user (extra billing events).
const (
	anomalyUnknownCustomer uint8 = iota + 1
	anomalyNegativeAmount
	anomalyMissingCurrency
	anomalyTestMode
)

// tier is how much a user streams: the chance of watching on a given day
// and the minutes watched on such a day.
type tier struct {
	active  float64
	minutes float64
}

var tiers = []tier{{0.12, 35}, {0.3, 75}, {0.55, 130}}

// voluntaryLift and planLift scale shareVoluntary by tier (light, medium,
// heavy streamers) and plan (basic, standard, premium): the drivers of
// voluntary churn the sample data plants.
var (
	voluntaryLift = []float64{2.4, 0.8, 0.3}
	planLift      = []float64{1.5, 1.0, 0.5}
)

var (
	tierPaidCum  = []float64{0.3, 0.7, 1}
	tierTrialCum = []float64{0.5, 0.85, 1}
)

type country struct {
	code, currency string
}

var countries = []country{
	{"US", "usd"}, {"CA", "usd"}, {"MX", "usd"}, {"BR", "usd"}, {"GB", "gbp"},
	{"DE", "eur"}, {"FR", "eur"}, {"ES", "eur"}, {"NL", "eur"},
}
var countryCum = []float64{0.55, 0.63, 0.68, 0.73, 0.83, 0.90, 0.95, 0.98, 1}

var channels = []string{"organic", "paid_search", "social", "referral", "partner_roku", "tv_ad", "app_store"}
var channelCum = []float64{0.3, 0.5, 0.65, 0.75, 0.85, 0.95, 1}

type plan struct {
	name  string
	label string
	price map[string]int64 // minor units by currency
}

var plans = []plan{
	{"basic", "Basic", map[string]int64{"usd": 999, "gbp": 599, "eur": 799}},
	{"standard", "Standard", map[string]int64{"usd": 1599, "gbp": 1099, "eur": 1299}},
	{"premium", "Premium", map[string]int64{"usd": 2299, "gbp": 1799, "eur": 1999}},
}
var planCum = []float64{0.3, 0.8, 1}

// user is one account's plan: when things happen to it. Everything else
// (sessions, views, event IDs) is derived from it and the seed on demand.
type user struct {
	signup      int32
	trialStart  int32 // none: no trial
	anchor      int32 // first invoice (before the start for existing subscribers); none: never pays
	failAt      int32 // the renewal whose payment fails
	endAt       int32 // customer.subscription.deleted
	ticketAt    int32 // some support ticket
	billTicket  int32 // a billing ticket after the failure
	exitSurvey  int32
	trialSurvey int32
	anomalyAt   int32
	flags       uint8
	tier        uint8
	country     uint8
	channel     uint8
	plan        uint8
	anomaly     uint8
	endReason   uint8
	topic       uint8
}

func (u *user) has(f uint8) bool { return u.flags&f != 0 }

func (u *user) trialEnd() int64 { return int64(u.trialStart) + trialLength }

// entitled is when the user may stream: [from, to).
func (u *user) entitled() (from, to int64) {
	from, to = math.MaxInt64, math.MaxInt64
	switch {
	case u.has(fExisting):
		from = math.MinInt64
	case u.trialStart != none:
		from = int64(u.trialStart)
	case u.anchor != none:
		from = int64(u.anchor)
	}
	if u.endAt != none {
		to = int64(u.endAt)
	}
	return from, to
}

func (u *user) currency() string { return countries[u.country].currency }

func (u *user) price() int64 { return plans[u.plan].price[u.currency()] }

// planUser decides user i's plan. horizon is the number of seconds covered.
func planUser(seed uint64, i int, horizon int64) user {
	r := newRNG(seed, uint64(i), streamPlan, 0)
	u := user{trialStart: none, anchor: none, failAt: none, endAt: none, ticketAt: none,
		billTicket: none, exitSurvey: none, trialSurvey: none, anomalyAt: none}
	u.country = uint8(r.pick(countryCum))
	u.channel = uint8(r.pick(channelCum))
	u.plan = uint8(r.pick(planCum))
	if r.float() < shareExisting {
		u.flags |= fExisting
		u.signup = int32(-60*day - r.intn(660*day))
		u.anchor = int32(-1 - r.intn(billingPeriod-1))
		u.tier = uint8(r.pick(tierPaidCum))
	} else {
		u.signup = int32(r.intn(horizon - 2*hour))
		x := r.float()
		switch {
		case x < shareTrial:
			ts := int64(u.signup) + r.between(5*minute, 2*day)
			if ts < horizon {
				u.trialStart = int32(ts)
				if r.float() < shareConvert {
					u.flags |= fConvert
					u.anchor = int32(ts + trialLength)
				} else {
					u.endAt, u.endReason = int32(ts+trialLength), endTrialCanceled
				}
			}
		case x < shareTrial+shareDirect:
			u.anchor = int32(int64(u.signup) + r.between(10*minute, day))
		}
		if u.anchor != none {
			u.tier = uint8(r.pick(tierPaidCum))
		} else {
			u.tier = uint8(r.pick(tierTrialCum))
		}
	}
	if u.anchor != none && int64(u.anchor) < horizon {
		if r.float() < shareFail {
			// A renewal at least a week into the data, so there is
			// streaming to compare with.
			if k, ok := pickRenewal(&r, int64(u.anchor), week, horizon); ok {
				u.failAt = int32(int64(u.anchor) + k*billingPeriod)
				if r.float() < shareDropper {
					u.flags |= fDropper
					if r.float() < shareDropperRecov {
						u.flags |= fRecover
					}
				} else {
					u.flags |= fRecover
				}
				if !u.has(fRecover) {
					u.endAt, u.endReason = u.failAt+7*day, endPaymentFailed
				}
				if r.float() < shareBillTicket {
					u.billTicket = int32(int64(u.failAt) + r.between(2*hour, 2*day))
				}
			}
		} else if r.float() < shareVoluntary*voluntaryLift[u.tier]*planLift[u.plan] {
			if k, ok := pickRenewal(&r, int64(u.anchor), 0, horizon); ok {
				u.endAt, u.endReason = int32(int64(u.anchor)+k*billingPeriod), endVoluntary
			}
		}
	}
	if r.float() < shareTicket {
		from := max(int64(u.signup), 0)
		if from < horizon-hour {
			u.ticketAt = int32(r.between(from, horizon-hour))
			u.topic = uint8(r.intn(int64(len(ticketTopics))))
		}
	}
	if u.endAt != none && r.float() < shareExitSurvey {
		u.exitSurvey = int32(int64(u.endAt) + r.between(2*hour, 3*day))
	}
	if u.has(fConvert) && r.float() < shareTrialSurvey {
		u.trialSurvey = int32(int64(u.anchor) + r.between(day, 5*day))
	}
	a := r.float()
	switch {
	case a < shareUnknown:
		u.anomaly = anomalyUnknownCustomer
	case a < shareUnknown+shareNegative:
		u.anomaly = anomalyNegativeAmount
	case a < shareUnknown+shareNegative+shareNoCurr:
		u.anomaly = anomalyMissingCurrency
	case a < shareUnknown+shareNegative+shareNoCurr+shareTestMode:
		u.anomaly = anomalyTestMode
	}
	if u.anomaly != 0 {
		u.anomalyAt = int32(r.between(hour, horizon-hour))
	}
	return u
}

// pickRenewal picks, uniformly, a renewal k >= 1 of a subscription first
// invoiced at anchor that falls in [from, horizon).
func pickRenewal(r *rng, anchor, from, horizon int64) (int64, bool) {
	k0 := int64(1)
	if from > anchor {
		k0 = max(1, (from-anchor+billingPeriod-1)/billingPeriod)
	}
	n := int64(0)
	for k := k0; anchor+k*billingPeriod < horizon; k++ {
		n++
	}
	if n == 0 {
		return 0, false
	}
	return k0 + r.intn(n), true
}

// Streams of randomness, one per purpose.
const (
	streamPlan uint64 = iota + 1
	streamPlayback
	streamCatalog
	streamBilling
	streamTicket
	streamSurvey
)
