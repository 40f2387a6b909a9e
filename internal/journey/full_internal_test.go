package journey

import (
	"bytes"
	"testing"
)

// A part gives back each event and its data as put, in order, from blocks
// written to the scratch file and the one still being filled, also data
// larger than a block.
func TestUserPartRecords(t *testing.T) {
	s, err := newSpill(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var p, other userPart
	sizes := []int{10, s.block - 20, 30, 3 * s.block, 0, s.block, 7}
	for i, n := range sizes {
		c := compactEvent{at: int64(-i), seq: int64(1 << (8 * i)), user: ^uint64(i), kind: uint16(i), flags: hasValues}
		if err := p.put(s, &c, bytes.Repeat([]byte{byte(i + 1)}, n)); err != nil {
			t.Fatal(err)
		}
		// Another part's blocks between this one's.
		if err := other.put(s, &c, bytes.Repeat([]byte{0xff}, s.block)); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.extents) < 3 || len(p.buf) == 0 {
		t.Fatalf("want blocks written and one being filled, have %d written and %d bytes", len(p.extents), len(p.buf))
	}
	if err := p.flush(s); err != nil {
		t.Fatal(err)
	}
	data, err := p.load(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	events, err := readRecords(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != len(sizes) {
		t.Fatalf("%d events read back, %d put", len(events), len(sizes))
	}
	for i, c := range events {
		want := compactEvent{at: int64(-i), seq: int64(1 << (8 * i)), user: ^uint64(i), kind: uint16(i), flags: hasValues, data: c.data}
		if c != want {
			t.Errorf("event %d read back as %+v, put as %+v", i, c, want)
		}
		end := int(c.data) + sizes[i]
		if end > len(data) || !bytes.Equal(data[c.data:end], bytes.Repeat([]byte{byte(i + 1)}, sizes[i])) {
			t.Errorf("event %d (%d bytes): data read back wrong", i, sizes[i])
		}
	}
	if _, err := readRecords(data[:len(data)-1], nil); err == nil {
		t.Error("a truncated record was read without an error")
	}
}

// Parts are counted so that each holds about the same number of events
// whatever their number, within bounds.
func TestSpillParts(t *testing.T) {
	for upTo, want := range map[int64]int{0: 64, 1000: 64, 10_000_000: 128, 30_000_000: 256, 1 << 40: 4096} {
		if got := spillParts(upTo); got != want {
			t.Errorf("spillParts(%d) = %d, want %d", upTo, got, want)
		}
	}
}
