package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// copyData is the data of a COPY ... FROM STDIN (FORMAT binary), written
// row by row straight from the store's own types. pgx's CopyFrom takes rows
// as []any and finds an encoder for every value: at a million events that
// was the commit's largest cost on the client, as much again as building
// the events. The format is PostgreSQL's documented binary COPY format:
// a header, then per row a field count and each field as a length and its
// binary send representation (-1 for NULL), then a trailer.
type copyData struct {
	buf  []byte
	cols int
}

// copySignature starts every binary COPY: the signature, no flags, no
// header extension.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyBuffers keeps the buffers of COPY data from commit to commit: a
// batch's is megabytes.
var copyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// newCopyData starts the data of rows of cols columns, about rowSize bytes
// each. Release it once sent.
func newCopyData(cols, rows, rowSize int) *copyData {
	buf := *copyBuffers.Get().(*[]byte)
	if need := len(copySignature) + rows*rowSize + 2; cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	c := &copyData{buf: append(buf[:0], copySignature...), cols: cols}
	return c
}

// release hands the buffer back for another COPY; c is not to be used after.
func (c *copyData) release() {
	buf := c.buf[:0]
	c.buf = nil
	copyBuffers.Put(&buf)
}

// row starts a row.
func (c *copyData) row() { c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(c.cols)) }

func (c *copyData) null() { c.buf = binary.BigEndian.AppendUint32(c.buf, 0xffffffff) }

// text writes a text (or varchar) field.
func (c *copyData) text(s string) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(len(s)))
	c.buf = append(c.buf, s...)
}

// bytes writes a bytea field, NULL for nil.
func (c *copyData) bytes(b []byte) {
	if b == nil {
		c.null()
		return
	}
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(len(b)))
	c.buf = append(c.buf, b...)
}

// jsonb writes a jsonb field from JSON text, NULL for nil: version 1 of
// jsonb's send format is the text itself.
func (c *copyData) jsonb(js []byte) {
	if js == nil {
		c.null()
		return
	}
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(len(js)+1))
	c.buf = append(c.buf, 1)
	c.buf = append(c.buf, js...)
}

// pgEpoch is where timestamptz counts microseconds from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// timestamptz writes a time, to the microsecond.
func (c *copyData) timestamptz(t time.Time) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 8)
	c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(t.UnixMicro()-pgEpoch))
}

// numeric writes a numeric field from a plain decimal ("-12.50", "7"; as
// decimalRE allows), NULL for nil. numeric's send format is the number in
// base-10000 digits: their count, the weight of the first (its power of
// 10000), the sign and the number of decimal digits after the point.
func (c *copyData) numeric(dec *string) error {
	if dec == nil {
		c.null()
		return nil
	}
	s := *dec
	sign := uint16(0)
	if strings.HasPrefix(s, "-") {
		sign, s = 0x4000, s[1:]
	}
	whole, frac, point := strings.Cut(s, ".")
	if !digits(whole) || (point && !digits(frac)) {
		return fmt.Errorf("amount %q is not a decimal number", *dec)
	}
	whole = strings.TrimLeft(whole, "0")
	// The digits aligned on groups of four around the point: lead zeros
	// before the whole part, zeros after the fraction to fill its last group.
	lead := (4 - len(whole)%4) % 4
	n := (lead + len(whole) + len(frac) + 3) / 4
	digit := func(i int) uint16 {
		switch i -= lead; {
		case i < 0 || i >= len(whole)+len(frac):
			return 0
		case i < len(whole):
			return uint16(whole[i] - '0')
		}
		return uint16(frac[i-len(whole)] - '0')
	}
	group := func(g int) uint16 {
		return digit(4*g)*1000 + digit(4*g+1)*100 + digit(4*g+2)*10 + digit(4*g+3)
	}
	// Leading and trailing zero groups are left out; the weight says where
	// the first one kept stands.
	first, last := 0, n-1
	for first < n && group(first) == 0 {
		first++
	}
	for last >= first && group(last) == 0 {
		last--
	}
	weight := (lead+len(whole))/4 - 1 - first
	kept := last - first + 1
	if kept == 0 {
		sign, weight = 0, 0 // zero has no sign
	}
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(8+2*kept))
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(kept))
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(int16(weight)))
	c.buf = binary.BigEndian.AppendUint16(c.buf, sign)
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(len(frac)))
	for g := first; g <= last; g++ {
		c.buf = binary.BigEndian.AppendUint16(c.buf, group(g))
	}
	return nil
}

// digits says whether s is one or more decimal digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// end closes the data with the trailer and returns it, valid until release.
func (c *copyData) end() []byte {
	c.buf = binary.BigEndian.AppendUint16(c.buf, 0xffff)
	return c.buf
}

// copyInto COPYs data (ended) into table's cols in tx.
func copyInto(ctx context.Context, tx pgx.Tx, table string, cols []string, data []byte) error {
	quoted := make([]string, len(cols))
	for i, col := range cols {
		quoted[i] = pgx.Identifier{col}.Sanitize()
	}
	_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data),
		`COPY `+pgx.Identifier{table}.Sanitize()+` (`+strings.Join(quoted, ", ")+`) FROM STDIN (FORMAT binary)`)
	return err
}

// int8 writes a bigint; 0 writes NULL (an event no ledger entry covers).
func (c *copyData) int8OrNull(n int64) {
	if n == 0 {
		c.null()
		return
	}
	c.buf = binary.BigEndian.AppendUint32(c.buf, 8)
	c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(n))
}
