package predict

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// A synthetic journey with planted churn drivers and a known truth. Each
// user signs up in the first 60 days, is on the basic or premium plan and
// streams a little or a lot; some have one failed payment on a uniformly
// drawn day. The churn hazard per day is
//
//	h0 * exp(planBasic*[basic] + light*[streams little]) * (failure if within 30 days after the failed payment)
//
// so the drivers are the plan, streaming and a failed payment, with known
// signs, and a user's true probability of churning within the horizon,
// given what could be known at a cutoff, is computable (truth below).
const (
	synthDays    = 120
	synthH0      = 0.0022
	planBasic    = 0.9
	light        = 1.0
	failureBoost = 7.0
	failShare    = 0.35
	failFrom     = 10
)

var synthStart = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

type synthUser struct {
	id      string
	basic   bool
	lightU  bool
	signup  int     // day
	failDay float64 // -1: never
	churn   float64 // day; > synthDays: never within the data
	events  []Event
	entered []time.Time // Active, AtRisk, Churned
}

var synthStages = []string{"Active", "AtRisk", "Churned"}

func day(d float64) time.Time { return synthStart.Add(time.Duration(d * 24 * float64(time.Hour))) }

func (u *synthUser) hazard(d float64) float64 {
	h := synthH0 * math.Exp(planBasic*b2f(u.basic)+light*b2f(u.lightU))
	if u.failDay >= 0 && d >= u.failDay && d < u.failDay+30 {
		h *= failureBoost
	}
	return h
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// synthetic makes n users; seed fixes them.
func synthetic(n int, seed uint64) []synthUser {
	r := rand.New(rand.NewPCG(seed, 7))
	users := make([]synthUser, n)
	for i := range users {
		u := &users[i]
		u.id = fmt.Sprintf("u%05d", i)
		u.basic = r.Float64() < 0.5
		u.lightU = r.Float64() < 0.4
		u.signup = r.IntN(60)
		u.failDay = -1
		if r.Float64() < failShare {
			u.failDay = failFrom + r.Float64()*(synthDays-failFrom)
		}
		if u.failDay >= 0 && u.failDay < float64(u.signup) {
			u.failDay = -1
		}
		// Churn: walk the days with the hazard.
		u.churn = math.Inf(1)
		for d := float64(u.signup); d < synthDays+40; d++ {
			if r.Float64() < 1-math.Exp(-u.hazard(d)) {
				u.churn = d + r.Float64()
				break
			}
		}
		plan := "premium"
		if u.basic {
			plan = "basic"
		}
		rate, minutes := 0.7, 90.0
		if u.lightU {
			rate, minutes = 0.25, 30.0
		}
		end := math.Min(float64(synthDays), u.churn)
		u.events = append(u.events, Event{Touchpoint: "billing", Type: "invoice.paid", At: day(float64(u.signup)),
			Attributes: []byte(fmt.Sprintf(`{"plan":%q}`, plan))})
		for d := float64(u.signup); d < end; d++ {
			if u.failDay >= 0 && int(d) == int(u.failDay) {
				u.events = append(u.events, Event{Touchpoint: "billing", Type: "invoice.payment_failed", At: day(u.failDay)})
			}
			if r.Float64() < rate {
				m := minutes * (0.5 + r.Float64())
				u.events = append(u.events, Event{Touchpoint: "playback", Type: "session", At: day(d + 0.4 + 0.2*r.Float64()),
					Attributes: []byte(fmt.Sprintf(`{"minutes":%.1f,"plan":%q}`, m, plan))})
			}
		}
		u.entered = make([]time.Time, 3)
		u.entered[0] = day(float64(u.signup))
		if u.failDay >= 0 && u.failDay < end {
			u.entered[1] = day(u.failDay)
		}
		if u.churn < synthDays {
			u.events = append(u.events, Event{Touchpoint: "billing", Type: "customer.subscription.deleted", At: day(u.churn)})
			u.entered[2] = day(u.churn)
		}
		sortEvents(u.events)
	}
	return users
}

func sortEvents(ev []Event) {
	for i := 1; i < len(ev); i++ {
		for j := i; j > 0 && ev[j].At.Before(ev[j-1].At); j-- {
			ev[j], ev[j-1] = ev[j-1], ev[j]
		}
	}
}

// truth is a user's probability of churning in (cut, cut+horizon], given
// what could be known at cut: their plan and streaming, and whether and
// when a payment failed by then (a failure still to come is averaged over).
func (u *synthUser) truth(cut, horizon float64) float64 {
	survive := func(failDay float64) float64 { // P(no churn in the window | failDay)
		v := *u
		v.failDay = failDay
		s := 0.0
		for d := cut; d < cut+horizon; d += 0.25 {
			s += v.hazard(d) * 0.25
		}
		return math.Exp(-s)
	}
	if u.failDay >= 0 && u.failDay <= cut {
		return 1 - survive(u.failDay)
	}
	// No failure by cut: it may still come, uniformly over (max(cut,from), end].
	span := float64(synthDays - failFrom)
	pFailLater := failShare * (synthDays - math.Max(cut, failFrom)) / span
	pNone := 1 - failShare*(math.Max(cut, failFrom)-failFrom)/span
	s := (pNone - pFailLater) * survive(-1)
	for f := math.Max(cut, failFrom); f < synthDays; f++ {
		s += failShare / span * survive(f+0.5)
	}
	return 1 - s/pNone
}

// synthHistory serves the users as a History.
type synthHistory []synthUser

func (h synthHistory) Each(_ context.Context, fn func(string, []Event, []time.Time) error) error {
	for i := range h {
		if err := fn(h[i].id, h[i].events, h[i].entered); err != nil {
			return err
		}
	}
	return nil
}

func synthSpec() Spec {
	return Spec{Stages: synthStages, Touchpoints: []string{"billing", "playback"}, Segments: []string{"plan"},
		Horizon: 30 * 24 * time.Hour, AsOf: day(synthDays)}
}
