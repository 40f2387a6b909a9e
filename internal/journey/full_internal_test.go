package journey

import (
	"bytes"
	"testing"
)

// A part gives back each event's data as put, also around data larger
// than a block, which gets a block of its own.
func TestUserPartData(t *testing.T) {
	var p userPart
	sizes := []int{10, dataBlock - 20, 30, 3 * dataBlock, 5, dataBlock, 7}
	var events []compactEvent
	for i, n := range sizes {
		if err := p.put(compactEvent{seq: int64(i)}, bytes.Repeat([]byte{byte(i + 1)}, n)); err != nil {
			t.Fatal(err)
		}
		events = append(events, p.events[len(p.events)-1][len(p.events[len(p.events)-1])-1])
	}
	for i, c := range events {
		d := p.dataOf(&c)
		if len(d) < sizes[i] || !bytes.Equal(d[:sizes[i]], bytes.Repeat([]byte{byte(i + 1)}, sizes[i])) {
			t.Errorf("event %d (%d bytes): data read back wrong", i, sizes[i])
		}
	}
}
