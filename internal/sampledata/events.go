package sampledata

import (
	"fmt"
	"strconv"
)

// ---- catalog ----------------------------------------------------------------

const nTitles = 480

var titleIDs = func() []string {
	out := make([]string, nTitles)
	for i := range out {
		out[i] = fmt.Sprintf("tt%07d", 100000+(i*7919)%8900000)
	}
	return out
}()

var catalogRows = []string{"trending", "continue-watching", "because-you-watched", "new-releases", "top-10-today", "genre-drama", "genre-comedy", "kids"}
var platforms = []string{"web", "ios", "android", "tv"}

// title picks a title with a long tail: a few are watched by everyone.
func title(r *rng) string {
	x := r.float()
	return titleIDs[int(x*x*x*nTitles)]
}

// catalog writes a user's catalog views of one day: a burst right after
// signing up, then now and then, more often while they can stream.
func (g *gen) catalog(i int, u *user, from, to int64) {
	signup := int64(u.signup)
	if signup >= to {
		return
	}
	d := uint64(from / day)
	r := newRNG(g.seed, uint64(i), streamCatalog, d)
	if signup >= from {
		n := 1 + r.intn(2)
		for j := int64(0); j < n; j++ {
			t := min(signup+r.between(minute, hour), to-1)
			g.view(i, &r, t, d<<8|uint64(j))
		}
	}
	p := 0.0
	if ef, et := u.entitled(); ef < to && et > from {
		p = 0.03 + 0.13*tiers[u.tier].active
	} else if from < signup+21*day {
		p = 0.04
	}
	if r.float() < p {
		n := 1 + r.intn(2)
		for j := int64(0); j < n; j++ {
			if t := from + r.intn(day); t >= signup {
				g.view(i, &r, t, d<<8|uint64(16+j))
			}
		}
	}
}

func (g *gen) view(i int, r *rng, t int64, k uint64) {
	b := append(g.line[:0], `{"event_id":"`...)
	b = g.ids.appendUUID(b, uint64(i), idView, k)
	b = append(b, `","user_id":"`...)
	b = append(b, g.ids.customer(uint64(i))...)
	b = append(b, `","title_id":"`...)
	b = append(b, title(r)...)
	b = append(b, `","row":"`...)
	b = append(b, catalogRows[r.intn(int64(len(catalogRows)))]...)
	b = append(b, `","position":`...)
	b = appendInt(b, 1+r.intn(20))
	b = append(b, `,"platform":"`...)
	b = append(b, platforms[r.intn(int64(len(platforms)))]...)
	b = append(b, `","viewed_at":"`...)
	b = appendTime(b, g.start+t)
	b = append(b, `"}`...)
	g.line = b
	g.feeds[feedCatalog].add(g.start+t, b)
}

// ---- playback ---------------------------------------------------------------

var devices = []string{"roku", "apple_tv", "android_tv", "fire_tv", "samsung_tv", "lg_tv", "chromecast", "ios", "android", "web"}

type session struct {
	t, seconds int64
	k          uint64
	title      string
	device     string
}

// sessions returns a user's playback sessions of day d: on an active day one
// or two, while the user may stream; a dropper streams far less after the
// failed payment. The same (seed, user, day) always gives the same sessions.
func (g *gen) sessions(i int, u *user, d int64, out *[2]session) int {
	from, to := d*day, (d+1)*day
	ef, et := u.entitled()
	if ef >= to || et <= from {
		return 0
	}
	r := newRNG(g.seed, uint64(i), streamPlayback, uint64(d))
	tr := tiers[u.tier]
	if r.float() >= tr.active {
		return 0
	}
	n := int64(1)
	if r.float() < 0.2 {
		n = 2
	}
	dev := devices[r.intn(int64(len(devices)))]
	k := 0
	for j := int64(0); j < n; j++ {
		t := from + r.intn(day)
		secs := int64(tr.minutes * (0.3 + 1.4*r.float()) * 60 / float64(n))
		keep := r.float()
		ttl := title(&r)
		if t < ef || t >= et || t >= g.horizon {
			continue
		}
		if u.has(fDropper) && t >= int64(u.failAt) {
			if keep >= dropKeep {
				continue
			}
			secs = int64(float64(secs) * dropMinutes)
		}
		out[k] = session{t: t, seconds: max(secs, 45), k: uint64(d)<<4 | uint64(j), title: ttl, device: dev}
		k++
	}
	return k
}

func (g *gen) playback(i int, u *user, d int64) {
	var ss [2]session
	n := g.sessions(i, u, d, &ss)
	for _, s := range ss[:n] {
		b := append(g.line[:0], `{"session_id":"`...)
		b = g.ids.appendUUID(b, uint64(i), idSession, s.k)
		b = append(b, `","user_id":"`...)
		b = append(b, g.ids.customer(uint64(i))...)
		b = append(b, `","title_id":"`...)
		b = append(b, s.title...)
		b = append(b, `","device":"`...)
		b = append(b, s.device...)
		b = append(b, `","watched_seconds":`...)
		b = appendInt(b, s.seconds)
		b = append(b, `,"ended_at":"`...)
		b = appendTime(b, g.start+s.t)
		b = append(b, `"}`...)
		g.line = b
		g.feeds[feedPlayback].add(g.start+s.t, b)
	}
}

// window is a span [from, to) of seconds from the start.
type window struct{ from, to int64 }

func (w window) has(t int64) bool { return t >= w.from && t < w.to }

// ---- billing ----------------------------------------------------------------

// Billing event kinds, the high bits of an event's k.
const (
	evTrialStarted uint64 = iota + 1
	evPaid
	evRetryPaid
	evFailed
	evDeleted
	evRefund
	evDupPayment
	evAnomaly
)

func evK(kind, k uint64) uint64 { return kind<<40 | k }

// anomalyInvoice numbers the invoices of planted anomalies apart from the
// renewals.
const anomalyInvoice = 1 << 20

// invoice is what an invoice event says.
type invoice struct {
	user        uint64 // identity space: N+i for an unknown customer
	customer    string
	k           uint64 // invoice number of the user
	due, paid   int64
	currency    string // "" leaves it out
	lineCur     string
	status      string
	attempt     int64
	next        int64 // next payment attempt, seconds from start; none: null
	reason      string
	periodStart int64
	plan        *plan
	country     string
}

func (g *gen) billingHead(b []byte, user, evtK uint64, t int64) []byte {
	b = append(b, `{"id":"`...)
	b = g.ids.appendID(b, "evt_1", user, idEvent, evtK)
	b = append(b, `","object":"event","api_version":"2024-06-20","created":`...)
	b = appendInt(b, g.start+t)
	return append(b, `,"data":{"object":`...)
}

func billingTail(b []byte, typ string, live bool) []byte {
	b = append(b, `},"livemode":`...)
	b = strconv.AppendBool(b, live)
	b = append(b, `,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"`...)
	b = append(b, typ...)
	return append(b, `"}`...)
}

func (g *gen) appendPlan(b []byte, p *plan, cur string) []byte {
	b = append(b, `{"id":"price_`...)
	b = append(b, p.name...)
	b = append(b, `_monthly_`...)
	b = append(b, cur...)
	b = append(b, `","object":"plan","active":true,"amount":`...)
	b = appendInt(b, p.price[cur])
	b = append(b, `,"currency":"`...)
	b = append(b, cur...)
	b = append(b, `","interval":"month","interval_count":1,"product":"prod_`...)
	b = append(b, p.name...)
	return append(b, `"}`...)
}

func (g *gen) appendInvoice(b []byte, in *invoice) []byte {
	b = append(b, `{"id":"`...)
	b = g.ids.appendID(b, "in_1", in.user, idInvoice, in.k)
	b = append(b, `","object":"invoice","account_country":"`...)
	b = append(b, in.country...)
	b = append(b, `","amount_due":`...)
	b = appendInt(b, in.due)
	b = append(b, `,"amount_paid":`...)
	b = appendInt(b, in.paid)
	b = append(b, `,"amount_remaining":`...)
	b = appendInt(b, in.due-in.paid)
	b = append(b, `,"attempt_count":`...)
	b = appendInt(b, in.attempt)
	b = append(b, `,"attempted":true,"billing_reason":"`...)
	b = append(b, in.reason...)
	b = append(b, '"')
	if in.currency != "" {
		b = append(b, `,"currency":"`...)
		b = append(b, in.currency...)
		b = append(b, '"')
	}
	b = append(b, `,"customer":"`...)
	b = append(b, in.customer...)
	b = append(b, `","lines":{"object":"list","data":[{"id":"`...)
	b = g.ids.appendID(b, "il_1", in.user, idLineItem, in.k)
	b = append(b, `","object":"line_item","amount":`...)
	b = appendInt(b, in.due)
	b = append(b, `,"currency":"`...)
	b = append(b, in.lineCur...)
	b = append(b, `","description":"`...)
	b = append(b, in.plan.label...)
	b = append(b, ` plan (monthly)","period":{"end":`...)
	b = appendInt(b, g.start+in.periodStart+billingPeriod)
	b = append(b, `,"start":`...)
	b = appendInt(b, g.start+in.periodStart)
	b = append(b, `},"plan":`...)
	b = g.appendPlan(b, in.plan, in.lineCur)
	b = append(b, `,"quantity":1}],"has_more":false,"total_count":1},"next_payment_attempt":`...)
	if in.next == none {
		b = append(b, `null`...)
	} else {
		b = appendInt(b, g.start+in.next)
	}
	b = append(b, `,"paid":`...)
	b = strconv.AppendBool(b, in.status == "paid")
	b = append(b, `,"payment_intent":"`...)
	b = g.ids.appendID(b, "pi_3", in.user, idPaymentIntent, in.k)
	b = append(b, `","period_end":`...)
	b = appendInt(b, g.start+in.periodStart+billingPeriod)
	b = append(b, `,"period_start":`...)
	b = appendInt(b, g.start+in.periodStart)
	b = append(b, `,"status":"`...)
	b = append(b, in.status...)
	b = append(b, `","subscription":"`...)
	b = g.ids.appendID(b, "sub_1", in.user, idSubscription, 0)
	return append(b, `"}`...)
}

// userInvoice is renewal k of user i, due at t.
func (g *gen) userInvoice(i int, u *user, k uint64, t int64) invoice {
	cur := u.currency()
	reason := "subscription_cycle"
	if k == 0 {
		reason = "subscription_create"
	}
	return invoice{user: uint64(i), customer: g.ids.customer(uint64(i)), k: k, due: u.price(), paid: u.price(), currency: cur, lineCur: cur,
		status: "paid", attempt: 1, next: none, reason: reason, periodStart: t, plan: &plans[u.plan],
		country: countries[u.country].code}
}

// subscription event: trial started or subscription deleted.
func (g *gen) appendSubscription(b []byte, i int, u *user, deleted bool, at int64) []byte {
	cur := u.currency()
	b = append(b, `{"id":"`...)
	b = g.ids.appendID(b, "sub_1", uint64(i), idSubscription, 0)
	b = append(b, `","object":"subscription","cancel_at_period_end":false,"canceled_at":`...)
	if deleted {
		b = appendInt(b, g.start+at)
	} else {
		b = append(b, `null`...)
	}
	b = append(b, `,"cancellation_details":{"comment":null,"feedback":null,"reason":`...)
	switch {
	case !deleted:
		b = append(b, `null`...)
	case u.endReason == endPaymentFailed:
		b = append(b, `"payment_failed"`...)
	default:
		b = append(b, `"cancellation_requested"`...)
	}
	b = append(b, `},"currency":"`...)
	b = append(b, cur...)
	b = append(b, `","customer":"`...)
	b = append(b, g.ids.customer(uint64(i))...)
	b = append(b, `","ended_at":`...)
	if deleted {
		b = appendInt(b, g.start+at)
	} else {
		b = append(b, `null`...)
	}
	b = append(b, `,"items":{"object":"list","data":[{"object":"subscription_item","plan":`...)
	b = g.appendPlan(b, &plans[u.plan], cur)
	b = append(b, `,"quantity":1}]},"status":"`...)
	if deleted {
		b = append(b, `canceled`...)
	} else {
		b = append(b, `trialing`...)
	}
	b = append(b, `","trial_end":`...)
	if u.trialStart != none {
		b = appendInt(b, g.start+u.trialEnd())
		b = append(b, `,"trial_start":`...)
		b = appendInt(b, g.start+int64(u.trialStart))
	} else {
		b = append(b, `null,"trial_start":null`...)
	}
	return append(b, '}')
}

func (g *gen) appendCharge(b []byte, in *invoice) []byte {
	b = append(b, `{"id":"`...)
	b = g.ids.appendID(b, "ch_3", in.user, idCharge, in.k)
	b = append(b, `","object":"charge","amount":`...)
	b = appendInt(b, in.paid)
	b = append(b, `,"amount_captured":`...)
	b = appendInt(b, in.paid)
	b = append(b, `,"amount_refunded":`...)
	b = appendInt(b, in.paid)
	b = append(b, `,"currency":"`...)
	b = append(b, in.currency...)
	b = append(b, `","customer":"`...)
	b = append(b, in.customer...)
	b = append(b, `","invoice":"`...)
	b = g.ids.appendID(b, "in_1", in.user, idInvoice, in.k)
	b = append(b, `","paid":true,"payment_intent":"`...)
	b = g.ids.appendID(b, "pi_3", in.user, idPaymentIntent, in.k)
	b = append(b, `","refunded":true,"refunds":{"object":"list","data":[{"id":"`...)
	b = g.ids.appendID(b, "re_3", in.user, idRefund, in.k)
	b = append(b, `","object":"refund","amount":`...)
	b = appendInt(b, in.paid)
	b = append(b, `,"reason":"requested_by_customer","status":"succeeded"}],"has_more":false,"total_count":1},"status":"succeeded"}`...)
	return b
}

// emit queues a normal billing event; now and then Stripe delivers it twice
// (same ID, same bytes).
func (g *gen) emit(user, evtK uint64, t int64, typ string, line []byte) {
	f := g.feeds[feedBilling]
	f.add(g.start+t, line)
	f.types[typ]++
	if chance(hash(g.seed, user, streamBilling, evtK^0x5eed), shareRedelivery) {
		f.add(g.start+t, line)
		f.types[typ]++
		g.anomalies[AnomalyExactDuplicate]++
	}
}

// plant queues a planted anomaly.
func (g *gen) plant(kind string, t int64, typ string, line []byte) {
	f := g.feeds[feedBilling]
	f.add(g.start+t, line)
	f.types[typ]++
	g.anomalies[kind]++
}

// billing writes a user's Stripe events of [from, to): trial, invoices,
// failed payments and their retries, refunds, cancellations, and the planted
// anomalies attached to the user.
func (g *gen) billing(i int, u *user, from, to int64) {
	ui := uint64(i)
	in := window{from, min(to, g.horizon)}
	if u.trialStart != none {
		if t := int64(u.trialStart); in.has(t) {
			b := g.billingHead(g.line[:0], ui, evK(evTrialStarted, 0), t)
			b = g.appendSubscription(b, i, u, false, t)
			g.line = billingTail(b, "customer.subscription.trial_started", true)
			g.emit(ui, evK(evTrialStarted, 0), t, "customer.subscription.trial_started", g.line)
		}
		if u.endReason == endTrialCanceled {
			if t := u.trialEnd(); in.has(t) {
				g.deleted(i, u, t)
			}
		}
	}
	if u.anchor != none {
		a := int64(u.anchor)
		k := int64(0)
		if u.has(fExisting) {
			k = 1
		}
		// Events of renewal k happen within 8 days of it.
		k = max(k, (from-8*day-a)/billingPeriod)
		for ; ; k++ {
			rk := a + k*billingPeriod
			if rk >= to || rk >= g.horizon || (u.endAt != none && rk > int64(u.endAt)) {
				break
			}
			switch {
			case u.failAt != none && rk == int64(u.failAt):
				g.failure(i, u, uint64(k), rk, in)
			case u.endReason == endVoluntary && rk == int64(u.endAt):
				if in.has(rk) {
					g.deleted(i, u, rk)
				}
			default:
				inv := g.userInvoice(i, u, uint64(k), rk)
				g.paid(&inv, evPaid, rk, in)
			}
		}
	}
	if u.anomaly != 0 {
		if t := int64(u.anomalyAt); in.has(t) {
			g.anomaly(i, u, t)
		}
	}
}

func (g *gen) deleted(i int, u *user, t int64) {
	ui := uint64(i)
	b := g.billingHead(g.line[:0], ui, evK(evDeleted, 0), t)
	b = g.appendSubscription(b, i, u, true, t)
	g.line = billingTail(b, "customer.subscription.deleted", true)
	g.emit(ui, evK(evDeleted, 0), t, "customer.subscription.deleted", g.line)
}

// paid writes invoice.paid at t, and what may follow it: a refund, or a
// second payment of the same payment intent (a planted anomaly).
func (g *gen) paid(inv *invoice, kind uint64, t int64, in window) {
	evtK := evK(kind, inv.k)
	if in.has(t) {
		b := g.billingHead(g.line[:0], inv.user, evtK, t)
		b = g.appendInvoice(b, inv)
		g.line = billingTail(b, "invoice.paid", true)
		g.emit(inv.user, evtK, t, "invoice.paid", g.line)
	}
	if h := hash(g.seed, inv.user, streamBilling, evtK^0x7ef); chance(h, shareRefund) {
		rt := t + day + int64(mix(h)%(3*day))
		if in.has(rt) {
			rk := evK(evRefund, inv.k)
			b := g.billingHead(g.line[:0], inv.user, rk, rt)
			b = g.appendCharge(b, inv)
			g.line = billingTail(b, "charge.refunded", true)
			g.emit(inv.user, rk, rt, "charge.refunded", g.line)
		}
	}
	if h := hash(g.seed, inv.user, streamBilling, evtK^0xd0b1e); chance(h, shareDupPayment) {
		dt := t + hour + int64(mix(h)%(29*hour))
		if in.has(dt) {
			dk := evK(evDupPayment, inv.k<<1)
			if kind == evRetryPaid {
				dk |= 1
			}
			b := g.billingHead(g.line[:0], inv.user, dk, dt)
			b = g.appendInvoice(b, inv)
			g.line = billingTail(b, "invoice.paid", true)
			g.plant(AnomalyDuplicatePayment, dt, "invoice.paid", g.line)
		}
	}
}

// failure writes a failed renewal: attempts 3 days apart, then either the
// retry pays or the subscription is cancelled a day after the third failure.
func (g *gen) failure(i int, u *user, k uint64, rk int64, in window) {
	ui := uint64(i)
	attempts := int64(3)
	if u.has(fRecover) {
		attempts = 1
	}
	for a := int64(1); a <= attempts; a++ {
		t := rk + (a-1)*3*day
		if !in.has(t) {
			continue
		}
		inv := g.userInvoice(i, u, k, rk)
		inv.paid, inv.status, inv.attempt, inv.next = 0, "open", a, t+3*day
		if a == 3 {
			inv.next = none
		}
		evtK := evK(evFailed, k<<4|uint64(a))
		b := g.billingHead(g.line[:0], ui, evtK, t)
		b = g.appendInvoice(b, &inv)
		g.line = billingTail(b, "invoice.payment_failed", true)
		g.emit(ui, evtK, t, "invoice.payment_failed", g.line)
	}
	if u.has(fRecover) {
		inv := g.userInvoice(i, u, k, rk)
		inv.attempt = 2
		g.paid(&inv, evRetryPaid, rk+3*day, in)
	} else if t := int64(u.endAt); in.has(t) {
		g.deleted(i, u, t)
	}
}

// anomaly writes the planted billing anomaly of user i: an invoice.paid that
// is wrong in exactly one way.
func (g *gen) anomaly(i int, u *user, t int64) {
	inv := g.userInvoice(i, u, anomalyInvoice|uint64(u.anomaly), t)
	inv.reason = "manual"
	live := true
	var kind string
	switch u.anomaly {
	case anomalyUnknownCustomer:
		// A customer created straight in Stripe by a partner integration,
		// never synced to CRM.
		n := uint64(len(g.users))
		inv.user, inv.customer, inv.k = n+uint64(i), g.ids.customer(n+uint64(i)), 0
		kind = AnomalyUnknownCustomer
	case anomalyNegativeAmount:
		inv.due, inv.paid = -inv.due, -inv.paid
		kind = AnomalyNegativeAmount
	case anomalyMissingCurrency:
		inv.currency = ""
		kind = AnomalyMissingCurrency
	case anomalyTestMode:
		live = false
		kind = AnomalyTestMode
	}
	evtK := evK(evAnomaly, uint64(u.anomaly))
	b := g.billingHead(g.line[:0], inv.user, evtK, t)
	b = g.appendInvoice(b, &inv)
	g.line = billingTail(b, "invoice.paid", live)
	g.plant(kind, t, "invoice.paid", g.line)
}

// ---- support ----------------------------------------------------------------

type topic struct {
	subject, typ, priority string
	tags                   []string
}

var ticketTopics = []topic{
	{"Video keeps buffering on my TV", "incident", "normal", []string{"playback", "buffering"}},
	{"Can't sign in on my Roku", "problem", "high", []string{"login", "roku"}},
	{"How do I change my plan?", "question", "low", []string{"plan"}},
	{"Subtitles are out of sync", "incident", "normal", []string{"playback", "subtitles"}},
	{"Downloads don't work on my iPhone", "incident", "normal", []string{"downloads", "ios"}},
	{"Please cancel my subscription", "task", "normal", []string{"cancel"}},
}

var billingTopics = []topic{
	{"My payment was declined", "problem", "high", []string{"billing", "payment_failed"}},
	{"Why was my card declined?", "question", "normal", []string{"billing", "payment_failed"}},
	{"I need to update my payment method", "task", "normal", []string{"billing"}},
}

func (g *gen) support(i int, u *user, from, to int64) {
	if u.ticketAt != none {
		g.ticket(i, 0, int64(u.ticketAt), &ticketTopics[u.topic], from, to)
	}
	if u.billTicket != none {
		r := newRNG(g.seed, uint64(i), streamTicket, 99)
		g.ticket(i, 1, int64(u.billTicket), &billingTopics[r.intn(int64(len(billingTopics)))], from, to)
	}
}

// ticket writes the updates of one Zendesk ticket that fall in [from, to):
// created (new), picked up (open), solved (most of them). The export
// stalled supportStall before the end: nothing after that is in the file.
func (g *gen) ticket(i int, j uint64, created int64, tp *topic, from, to int64) {
	r := newRNG(g.seed, uint64(i), streamTicket, j)
	open := created + r.between(10*minute, 6*hour)
	solved := open + r.between(hour, 3*day)
	if r.float() < 0.15 {
		solved = none
	}
	stall := g.horizon - supportStall
	for _, up := range []struct {
		t      int64
		status string
	}{{created, "new"}, {open, "open"}, {solved, "solved"}} {
		if up.t == none || up.t < from || up.t >= to || up.t >= stall {
			continue
		}
		id := 4_100_000 + 2*int64(i) + int64(j)
		b := append(g.line[:0], `{"id":`...)
		b = appendInt(b, id)
		b = append(b, `,"url":"https://streamco.zendesk.com/api/v2/tickets/`...)
		b = appendInt(b, id)
		b = append(b, `.json","external_id":"`...)
		b = append(b, g.ids.customer(uint64(i))...)
		b = append(b, `","requester_id":`...)
		b = appendInt(b, 360_000_000_000+int64(i))
		b = append(b, `,"subject":`...)
		b = appendString(b, tp.subject)
		b = append(b, `,"status":"`...)
		b = append(b, up.status...)
		b = append(b, `","priority":"`...)
		b = append(b, tp.priority...)
		b = append(b, `","type":"`...)
		b = append(b, tp.typ...)
		b = append(b, `","tags":[`...)
		for n, tag := range tp.tags {
			if n > 0 {
				b = append(b, ',')
			}
			b = appendString(b, tag)
		}
		b = append(b, `],"via":{"channel":"web"},"created_at":"`...)
		b = appendTime(b, g.start+created)
		b = append(b, `","updated_at":"`...)
		b = appendTime(b, g.start+up.t)
		b = append(b, `"}`...)
		g.line = b
		g.feeds[feedSupport].add(g.start+up.t, b)
	}
}

// ---- feedback ---------------------------------------------------------------

var exitReasons = []string{"Too expensive", "Not enough to watch", "Payment problems", "Technical issues", "I only wanted one show"}

func (g *gen) feedback(i int, u *user, from, to int64) {
	in := window{from, min(to, g.horizon)}
	if u.exitSurvey != none && in.has(int64(u.exitSurvey)) {
		g.response(i, u, 0, int64(u.exitSurvey))
	}
	if u.trialSurvey != none && in.has(int64(u.trialSurvey)) {
		g.response(i, u, 1, int64(u.trialSurvey))
	}
}

// response writes one Typeform webhook payload: the exit survey (j 0) or
// the post-trial survey (j 1).
func (g *gen) response(i int, u *user, j uint64, t int64) {
	r := newRNG(g.seed, uint64(i), streamSurvey, j)
	form, survey, title := "Xq7Lb2", "exit-survey", "Why did you leave?"
	score := r.intn(7)
	reason := exitReasons[r.intn(int64(len(exitReasons)))]
	if u.endReason == endPaymentFailed && r.float() < 0.6 {
		reason = "Payment problems"
	}
	if j == 1 {
		form, survey, title = "Pd3Tr9", "post-trial-survey", "How was your trial?"
		score = 5 + r.intn(6)
	}
	b := append(g.line[:0], `{"event_id":"`...)
	b = g.ids.appendID(b, "01J", uint64(i), idSurvey, j)
	b = append(b, `","event_type":"form_response","form_response":{"form_id":"`...)
	b = append(b, form...)
	b = append(b, `","token":"`...)
	b = g.ids.appendID(b, "", uint64(i), idSurveyToken, j)
	b = append(b, `","landed_at":"`...)
	b = appendTime(b, g.start+t-r.between(30, 600))
	b = append(b, `","submitted_at":"`...)
	b = appendTime(b, g.start+t)
	b = append(b, `","hidden":{"user":"`...)
	b = append(b, g.ids.customer(uint64(i))...)
	b = append(b, `","survey":"`...)
	b = append(b, survey...)
	b = append(b, `"},"calculated":{"score":`...)
	b = appendInt(b, score)
	b = append(b, `},"definition":{"id":"`...)
	b = append(b, form...)
	b = append(b, `","title":`...)
	b = appendString(b, title)
	b = append(b, `},"answers":[`...)
	if j == 0 {
		b = append(b, `{"type":"choice","choice":{"label":`...)
		b = appendString(b, reason)
		b = append(b, `},"field":{"id":"r3as0n","type":"multiple_choice","ref":"reason"}},`...)
	}
	b = append(b, `{"type":"number","number":`...)
	b = appendInt(b, score)
	b = append(b, `,"field":{"id":"sc0re1","type":"opinion_scale","ref":"recommend"}}]}}`...)
	g.line = b
	g.feeds[feedFeedback].add(g.start+t, b)
}
