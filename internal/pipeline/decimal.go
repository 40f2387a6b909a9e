package pipeline

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// decimalSum adds floats as their shortest decimals ("0.1", not the
// binary fraction nearest to it), exactly. It keeps the sum as an integer
// count of 10^-scale: adding a big.Rat per record spent most of its time
// reducing fractions.
type decimalSum struct {
	units, term big.Int
	scale       int
}

func (d *decimalSum) add(f float64) {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	digits, frac := s, 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		digits, frac = s[:i]+s[i+1:], len(s)-i-1
	}
	if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
		d.term.SetInt64(n)
	} else {
		d.term.SetString(digits, 10) // beyond int64: 1e300 is a valid amount
	}
	if frac > d.scale {
		d.units.Mul(&d.units, pow10(frac-d.scale))
		d.scale = frac
	} else if frac < d.scale {
		d.term.Mul(&d.term, pow10(d.scale-frac))
	}
	d.units.Add(&d.units, &d.term)
}

// rat is the sum.
func (d *decimalSum) rat() *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).Set(&d.units), new(big.Int).Set(pow10(d.scale)))
}

// pow10 is 10^n; read-only for n < len(powers10).
func pow10(n int) *big.Int {
	if n < len(powers10) {
		return powers10[n]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

var powers10 = func() (p [20]*big.Int) {
	for i := range p {
		p[i] = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(i)), nil)
	}
	return p
}()

// Decimal formats a total exactly, with at least two decimals.
func Decimal(r *big.Rat) string { return store.FormatDecimal(r) }
