package pipeline

import (
	"math"
	"math/big"
	"strconv"
	"testing"
)

// decimalSum adds exactly what a big.Rat of each float's shortest decimal
// would.
func TestDecimalSum(t *testing.T) {
	for _, amounts := range [][]float64{
		nil,
		{0},
		{0.1, 0.2},
		{10, 9.99, -0.005, 1e-7, 12345678.9},
		{1e21, 0.5, -1e21},
		{math.MaxFloat64, math.SmallestNonzeroFloat64, -123.456},
		{9.223372036854775807e18, 99999999999999999999.5, 1},
	} {
		var d decimalSum
		want := new(big.Rat)
		for _, f := range amounts {
			d.add(f)
			r, _ := new(big.Rat).SetString(strconv.FormatFloat(f, 'f', -1, 64))
			want.Add(want, r)
		}
		if got := d.rat(); got.Cmp(want) != 0 {
			t.Errorf("sum of %v = %s, want %s", amounts, got.FloatString(30), want.FloatString(30))
		}
	}
}
