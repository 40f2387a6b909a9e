package journey

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
)

// A full evaluation does not hold every event in memory: each event read
// is written, as a compact record, to its user's part of a scratch file,
// and the parts are then read back and evaluated one at a time, each
// small enough for the caches. What stays in memory is one block being
// filled per part, the parts being evaluated, and the users' states: it
// grows with users, not with events. This is a hash partitioning, as a
// database does for a join that does not fit in memory; reading the store
// in user order instead made it sort, or walk an index in random order.

// spillPartEvents is about how many events a part holds: parts are
// counted from the number of events to read, so that their size does not
// grow with them.
const spillPartEvents = 1 << 17

// spillParts is how many parts hold the events up to upTo (a power of two).
func spillParts(upTo int64) int {
	n := max(64, upTo/spillPartEvents)
	return min(1<<12, 1<<bits.Len64(uint64(n-1)))
}

// spillBuffers is what the parts' blocks being filled may take together.
const spillBuffers = 16 << 20

// spill is a scratch file the parts' blocks are appended to. The file is
// removed from its directory as soon as it is created, so its space goes
// back when it is closed, also when the process is killed. It is in the
// system's temporary directory ($TMPDIR or /tmp: an emptyDir in the
// evaluator's pod).
type spill struct {
	f     *os.File
	end   atomic.Int64
	block int
}

func newSpill(parts int) (*spill, error) {
	f, err := os.CreateTemp("", "journey-evaluation-*")
	if err != nil {
		return nil, fmt.Errorf("scratch file of a full evaluation: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("scratch file of a full evaluation: %w", err)
	}
	return &spill{f: f, block: max(16<<10, spillBuffers/parts)}, nil
}

func (s *spill) Close() error { return s.f.Close() }

// extent is where a block of a part is in the file.
type extent struct {
	off int64
	n   int
}

// write appends a block to the file; writers append at once, each to the
// room it reserved.
func (s *spill) write(b []byte) (extent, error) {
	off := s.end.Add(int64(len(b))) - int64(len(b))
	if _, err := s.f.WriteAt(b, off); err != nil {
		return extent{}, fmt.Errorf("write the scratch file of a full evaluation: %w", err)
	}
	return extent{off, len(b)}, nil
}

// userPart is the users of one part: their events' records, in the file
// and in the block being filled.
type userPart struct {
	mu      sync.Mutex
	buf     []byte
	extents []extent
	size    int
}

// put adds an event's record, writing the block when it is full.
func (p *userPart) put(s *spill, c *compactEvent, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = appendRecord(p.buf, c, data)
	if len(p.buf) >= s.block {
		return p.flush(s)
	}
	return nil
}

// flush writes the block being filled.
func (p *userPart) flush(s *spill) error {
	if len(p.buf) == 0 {
		return nil
	}
	x, err := s.write(p.buf)
	if err != nil {
		return err
	}
	p.extents, p.size, p.buf = append(p.extents, x), p.size+len(p.buf), p.buf[:0]
	return nil
}

// load reads the part's records back into buf (grown as needed).
func (p *userPart) load(s *spill, buf []byte) ([]byte, error) {
	if p.size > math.MaxUint32 {
		return nil, fmt.Errorf("a part of a full evaluation holds %d bytes of events, more than %d", p.size, math.MaxUint32)
	}
	if cap(buf) < p.size {
		buf = make([]byte, p.size)
	}
	buf = buf[:p.size]
	at := 0
	for _, x := range p.extents {
		if _, err := s.f.ReadAt(buf[at:at+x.n], x.off); err != nil && err != io.EOF {
			return nil, fmt.Errorf("read the scratch file of a full evaluation: %w", err)
		}
		at += x.n
	}
	p.extents = nil
	return buf, nil
}

// A record is an event as a part keeps it: its time, its user's hash, its
// kind and flags, then its ingestion sequence and the length of its data
// as varints, then the data (see fullEval.keep).
const recordHeader = 8 + 8 + 2 + 1

func appendRecord(b []byte, c *compactEvent, data []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(c.at))
	b = binary.LittleEndian.AppendUint64(b, c.user)
	b = binary.LittleEndian.AppendUint16(b, c.kind)
	b = append(b, byte(c.flags))
	b = binary.AppendUvarint(b, uint64(c.seq))
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// readRecords appends the records in b to events, each pointing at its
// data in b.
func readRecords(b []byte, events []compactEvent) ([]compactEvent, error) {
	for at := 0; at < len(b); {
		if len(b)-at < recordHeader {
			return nil, errRecord
		}
		h := b[at:]
		c := compactEvent{
			at:    int64(binary.LittleEndian.Uint64(h)),
			user:  binary.LittleEndian.Uint64(h[8:]),
			kind:  binary.LittleEndian.Uint16(h[16:]),
			flags: uint16(h[18]),
		}
		at += recordHeader
		seq, n := binary.Uvarint(b[at:])
		if n <= 0 {
			return nil, errRecord
		}
		at += n
		size, n := binary.Uvarint(b[at:])
		if n <= 0 || size > uint64(len(b)-at-n) {
			return nil, errRecord
		}
		at += n
		c.seq, c.data = int64(seq), uint32(at)
		events = append(events, c)
		at += int(size)
	}
	return events, nil
}

var errRecord = fmt.Errorf("a full evaluation's scratch file holds a malformed record")
