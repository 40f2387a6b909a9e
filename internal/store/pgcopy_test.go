package store

import (
	"encoding/binary"
	"testing"
)

// TestCopyNumeric: numeric's send format of plain decimals, digit group by
// digit group (the store suite round-trips them through PostgreSQL), and
// anything else refused rather than sent.
func TestCopyNumeric(t *testing.T) {
	for dec, want := range map[string][]uint16{
		// ndigits, weight, sign, dscale, digits...
		"0":            {0, 0, 0, 0},
		"-0.00":        {0, 0, 0, 2},
		"7":            {1, 0, 0, 0, 7},
		"-12.5":        {2, 0, 0x4000, 1, 12, 5000},
		"10000":        {1, 1, 0, 0, 1},
		"0.0005":       {1, 0xffff, 0, 4, 5},
		"123456789.01": {4, 2, 0, 2, 1, 2345, 6789, 100},
		"007.10":       {2, 0, 0, 2, 7, 1000},
	} {
		c := &copyData{}
		if err := c.numeric(&dec); err != nil {
			t.Errorf("%s: %v", dec, err)
			continue
		}
		n := binary.BigEndian.Uint32(c.buf)
		var got []uint16
		for i := 4; i < len(c.buf); i += 2 {
			got = append(got, binary.BigEndian.Uint16(c.buf[i:]))
		}
		if int(n) != 2*len(got) || len(got) != len(want) {
			t.Errorf("%s: %d bytes %v, want %v", dec, n, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: %v, want %v", dec, got, want)
				break
			}
		}
	}
	for _, bad := range []string{"", "-", "1e5", "1.", ".5", "+1", "1,5", "NaN", "Infinity", "12a", "--1", "1.2.3"} {
		c := &copyData{}
		if err := c.numeric(&bad); err == nil {
			t.Errorf("%q was encoded as a numeric", bad)
		}
		if len(c.buf) != 0 {
			t.Errorf("%q: %d bytes written before refusing", bad, len(c.buf))
		}
	}
}

// BenchmarkCopyNumeric: an amount costs no allocation.
func BenchmarkCopyNumeric(b *testing.B) {
	c := &copyData{buf: make([]byte, 0, 64)}
	dec := "-1234567.891"
	b.ReportAllocs()
	for b.Loop() {
		c.buf = c.buf[:0]
		if err := c.numeric(&dec); err != nil {
			b.Fatal(err)
		}
	}
}
