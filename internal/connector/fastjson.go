package connector

import (
	"strconv"
	"unicode/utf8"
)

// fastDecode decodes the common case of a JSON value quickly, straight into
// what decodeJSON returns (map[string]any, []any, string, int64, float64,
// bool, nil), with a single pass and no reflection. It declines (ok false)
// anything it does not handle exactly as encoding/json would: a syntax
// error, invalid UTF-8, a surrogate \u escape, a number out of range, deep
// nesting. decodeJSON then decodes the record the slow way, which also
// words the error. keys, when not nil, interns object keys: records of one
// source repeat the same few keys.
func fastDecode(data []byte, keys map[string]string) (v any, ok bool) {
	d := fastDecoder{data: data, keys: keys}
	d.space()
	v, ok = d.value(0)
	if !ok {
		return nil, false
	}
	d.space()
	return v, d.pos == len(d.data)
}

// maxFastDepth bounds the nesting fastDecode follows; encoding/json's own
// limit is 10000, and its error is the slow path's to give.
const maxFastDepth = 200

// maxInternedKeys bounds a reader's interned keys.
const maxInternedKeys = 512

type fastDecoder struct {
	data []byte
	pos  int
	keys map[string]string
}

func (d *fastDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *fastDecoder) value(depth int) (any, bool) {
	if d.pos >= len(d.data) || depth > maxFastDepth {
		return nil, false
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		s, ok := d.str(false)
		return s, ok
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, false
}

func (d *fastDecoder) literal(word string) bool {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return false
	}
	d.pos += len(word)
	return true
}

func (d *fastDecoder) object(depth int) (any, bool) {
	d.pos++ // {
	m := map[string]any{}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, true
	}
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, false
		}
		k, ok := d.str(true)
		if !ok {
			return nil, false
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, false
		}
		d.pos++
		d.space()
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v // a repeated key keeps its last value, as encoding/json does
		if more, ok := d.more('}'); !ok || !more {
			return m, ok
		}
	}
}

func (d *fastDecoder) array(depth int) (any, bool) {
	d.pos++ // [
	a := []any{}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return a, true
	}
	for {
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		if more, ok := d.more(']'); !ok || !more {
			return a, ok
		}
	}
}

// more reads what follows an object member or array element: a comma
// (more) or the closing bracket.
func (d *fastDecoder) more(closing byte) (more, ok bool) {
	d.space()
	if d.pos >= len(d.data) {
		return false, false
	}
	switch d.data[d.pos] {
	case ',':
		d.pos++
		d.space()
		return true, true
	case closing:
		d.pos++
		return false, true
	}
	return false, false
}

// str reads a string at d.pos (its opening quote). It declines invalid
// UTF-8, control characters and surrogate escapes, which encoding/json
// replaces or refuses in its own ways.
func (d *fastDecoder) str(key bool) (string, bool) {
	start := d.pos + 1
	i := start
	ascii := true
	for ; i < len(d.data); i++ {
		c := d.data[i]
		if c == '"' {
			break
		}
		if c == '\\' {
			return d.escaped(start)
		}
		if c < 0x20 {
			return "", false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if i >= len(d.data) {
		return "", false
	}
	raw := d.data[start:i]
	if !ascii && !utf8.Valid(raw) {
		return "", false
	}
	d.pos = i + 1
	if key && d.keys != nil {
		if s, ok := d.keys[string(raw)]; ok {
			return s, true
		}
		s := string(raw)
		if len(d.keys) < maxInternedKeys {
			d.keys[s] = s
		}
		return s, true
	}
	return string(raw), true
}

// escaped reads a string with escapes, from start (after its quote).
func (d *fastDecoder) escaped(start int) (string, bool) {
	buf := make([]byte, 0, 32)
	i := start
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			if !utf8.Valid(buf) {
				return "", false
			}
			d.pos = i + 1
			return string(buf), true
		case c < 0x20:
			return "", false
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			return "", false
		}
		switch e := d.data[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			if i+6 > len(d.data) {
				return "", false
			}
			r, err := strconv.ParseUint(string(d.data[i+2:i+6]), 16, 32)
			if err != nil || (r >= 0xD800 && r <= 0xDFFF) {
				return "", false
			}
			buf = utf8.AppendRune(buf, rune(r))
			i += 6
			continue
		default:
			return "", false
		}
		i += 2
	}
	return "", false
}

// number reads a number by JSON's grammar and converts it as number does.
func (d *fastDecoder) number() (any, bool) {
	start := d.pos
	i := d.pos
	if d.data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(d.data) && d.data[i] == '0' {
		i++
	} else if digits() == 0 {
		return nil, false
	}
	integer := true
	if i < len(d.data) && d.data[i] == '.' {
		i++
		integer = false
		if digits() == 0 {
			return nil, false
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		integer = false
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	d.pos = i
	if integer && i-start <= 18 { // fits an int64 whatever the digits
		neg := d.data[start] == '-'
		var n int64
		for _, c := range d.data[start:i] {
			if c != '-' {
				n = n*10 + int64(c-'0')
			}
		}
		if neg {
			n = -n
		}
		return n, true
	}
	text := string(d.data[start:i])
	if integer {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n, true
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, false
	}
	return f, true
}
