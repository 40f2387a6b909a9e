package store

import (
	"fmt"
	"math/big"
	"strings"
)

// addDecimal adds the decimal text s ("" adds nothing) to sum, exactly.
func addDecimal(sum *big.Rat, s string) error {
	if s == "" {
		return nil
	}
	var r big.Rat
	if _, ok := r.SetString(s); !ok {
		return fmt.Errorf("%q is not a decimal number", s)
	}
	sum.Add(sum, &r)
	return nil
}

// FormatDecimal writes r exactly, with at least two decimals ("18234.50",
// "0.125", "-3.00"). r must be a finite decimal (a sum of amounts is): a
// fraction whose denominator has other factors than 2 and 5 is written to
// 18 decimals, rounded.
func FormatDecimal(r *big.Rat) string {
	den := new(big.Int).Set(r.Denom())
	places := 0
	ten, zero := big.NewInt(10), big.NewInt(0)
	for _, p := range []int64{2, 5} {
		q, m := new(big.Int), new(big.Int)
		for {
			q.QuoRem(den, big.NewInt(p), m)
			if m.Cmp(zero) != 0 {
				break
			}
			den.Set(q)
		}
	}
	if den.Cmp(big.NewInt(1)) != 0 {
		return r.FloatString(18)
	}
	// Find the fewest decimals that write r exactly.
	scaled := new(big.Rat).Set(r)
	for !scaled.IsInt() {
		scaled.Mul(scaled, new(big.Rat).SetInt(ten))
		places++
	}
	s := r.FloatString(max(places, 2))
	if strings.HasPrefix(s, "-") && strings.Trim(s, "-0.") == "" {
		s = s[1:]
	}
	return s
}
