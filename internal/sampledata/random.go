package sampledata

import (
	"math/bits"
	"strconv"
	"time"
)

// Everything random is derived from the seed by hashing, never from a shared
// stream: a user's plan, a user's sessions on a day and each billing event's
// fate are each a pure function of (seed, user, what, ...). That is what
// lets the generator walk day by day (and keep little in memory) while every
// event comes out the same whichever day asks for it.

// mix is SplitMix64's finalizer: a bijection on uint64 that scrambles well.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash combines values into one well-mixed word (not injective).
func hash(a, b, c, d uint64) uint64 {
	h := mix(a ^ 0x6a09e667f3bcc908)
	h = mix(h ^ b)
	h = mix(h + c*0x9e3779b97f4a7c15)
	return mix(h ^ d ^ 0xbb67ae8584caa73b)
}

// rng is a small SplitMix64 generator.
type rng struct{ s uint64 }

func newRNG(seed, user, stream, k uint64) rng { return rng{s: hash(seed, user, stream, k)} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix(r.s)
}

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn returns a number in [0, n); n > 0.
func (r *rng) intn(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// between returns a number in [a, b); b > a.
func (r *rng) between(a, b int64) int64 { return a + r.intn(b-a) }

// pick returns an index chosen with the given cumulative weights (the last
// one is the total).
func (r *rng) pick(cum []float64) int {
	x := r.float() * cum[len(cum)-1]
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

// chance reports whether an event with hash h is among a share p of them.
func chance(h uint64, p float64) bool { return float64(h>>11)/(1<<53) < p }

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendBase62 appends n base-62 digits of the 128-bit value hi:lo (the
// low-order digits when n is too short for it; 22 digits hold any value).
func appendBase62(b []byte, hi, lo uint64, n int) []byte {
	var tmp [24]byte
	for i := n - 1; i >= 0; i-- {
		var r uint64
		hi, r = hi/62, hi%62
		lo, r = bits.Div64(r, lo, 62)
		tmp[i] = base62[r]
	}
	return append(b, tmp[:n]...)
}

// Kinds of identifiers, so that two kinds never share a value.
const (
	idEvent uint64 = iota + 1
	idInvoice
	idPaymentIntent
	idCharge
	idSubscription
	idLineItem
	idSession
	idView
	idSurvey
	idSurveyToken
	idRefund
	idAccount
	idCustomer
)

// ids makes identifiers that are unique by construction: a bijection of the
// user index and a bijection of (kind, k), combined so that both can be
// recovered from the result. Different (user, kind, k) never collide.
type ids struct{ k1, k2, k3 uint64 }

func newIDs(seed uint64) ids {
	return ids{k1: hash(seed, 1, 0, 0), k2: hash(seed, 2, 0, 0), k3: hash(seed, 3, 0, 0)}
}

// pair returns the 128-bit identity of (user, kind, k); k < 2^56.
func (g ids) pair(user, kind, k uint64) (hi, lo uint64) {
	lo = mix((kind<<56 | k) ^ g.k2)
	hi = mix(user^g.k1) ^ mix(lo+g.k3)
	// Each step is undone given the other half: still a bijection.
	lo ^= mix(hi ^ g.k2)
	return hi, lo
}

// appendID appends prefix and 23 base-62 characters (the first 22 carry
// the identity): with a prefix such as "evt_1" it looks like Stripe's
// evt_1NG8Du2eZvKYlo2CUI79vXWy.
func (g ids) appendID(b []byte, prefix string, user, kind, k uint64) []byte {
	hi, lo := g.pair(user, kind, k)
	b = append(b, prefix...)
	b = appendBase62(b, hi, lo, 22)
	return append(b, base62[(hi^lo>>7)%62])
}

// appendUUID appends the identity as a lowercase 8-4-4-4-12 UUID string.
func (g ids) appendUUID(b []byte, user, kind, k uint64) []byte {
	hi, lo := g.pair(user, kind, k)
	const hex = "0123456789abcdef"
	var raw [32]byte
	for i := 0; i < 16; i++ {
		raw[i] = hex[hi>>(60-4*i)&15]
		raw[16+i] = hex[lo>>(60-4*i)&15]
	}
	b = append(b, raw[0:8]...)
	b = append(b, '-')
	b = append(b, raw[8:12]...)
	b = append(b, '-')
	b = append(b, raw[12:16]...)
	b = append(b, '-')
	b = append(b, raw[16:20]...)
	b = append(b, '-')
	return append(b, raw[20:32]...)
}

// customer is a user's Stripe customer ID: cus_ and 14 characters, the last
// 11 a bijection of the user index (unique for any number of users).
func (g ids) customer(user uint64) string {
	b := make([]byte, 0, 18)
	b = append(b, "cus_"...)
	h := hash(g.k3, user, idCustomer, 0)
	b = append(b, base62[h%62], base62[h/62%62], base62[h/3844%62])
	return string(appendBase62(b, 0, mix(user^g.k1^idCustomer), 11))
}

// account is a user's Salesforce account ID: 001 and 15 characters.
func (g ids) account(user uint64) string {
	b := make([]byte, 0, 18)
	b = append(b, "0015g00"...)
	return string(appendBase62(b, 0, mix(user^g.k2^idAccount), 11))
}

// appendTime appends a Unix time as RFC 3339 in UTC.
func appendTime(b []byte, unix int64) []byte {
	return time.Unix(unix, 0).UTC().AppendFormat(b, time.RFC3339)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
