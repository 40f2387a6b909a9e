package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

const (
	// maxRaw caps the bytes of an undecodable record kept in a DecodeError,
	// so one huge bad record cannot bloat the quarantine.
	maxRaw = 64 << 10
	// maxRecordBytes caps one line (JSON Lines), row (CSV) or array element
	// (JSON): a longer one is almost always a file of another format, and
	// reading on would hold it all in memory.
	maxRecordBytes = 16 << 20
)

// errRecordTooLong ends a run whose input has one record longer than
// maxRecordBytes.
var errRecordTooLong = fmt.Errorf("a single record is longer than %d MiB; is spec.batch.file.format right?", maxRecordBytes>>20)

// decodeError builds a *DecodeError keeping at most maxRaw bytes of raw.
func decodeError(raw []byte, format string, args ...any) *DecodeError {
	if len(raw) > maxRaw {
		raw = raw[:maxRaw]
	}
	return &DecodeError{Raw: bytes.Clone(raw), Reason: fmt.Sprintf(format, args...)}
}

// decodeJSON decodes one complete JSON value. Numbers come back as int64
// when they are integers that fit (no fraction, no exponent), else as
// float64, so CEL expressions see int or double as a JSON reader would
// expect; objects are map[string]any and arrays []any.
func decodeJSON(data []byte) (any, error) { return decodeJSONKeys(data, nil) }

// decodeJSONKeys is decodeJSON interning object keys in keys (see
// fastDecode): for a reader's records, which repeat the same keys.
func decodeJSONKeys(data []byte, keys map[string]string) (any, error) {
	if v, ok := fastDecode(data, keys); ok {
		return v, nil
	}
	return slowDecodeJSON(data)
}

// slowDecodeJSON is decodeJSON by encoding/json, for what fastDecode
// declines; its errors are the reasons records are quarantined with.
func slowDecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return normalize(v)
}

// normalize replaces every json.Number in v (as decoded with UseNumber) by
// an int64 or a float64, in place.
func normalize(v any) (any, error) {
	switch t := v.(type) {
	case json.Number:
		return number(t)
	case map[string]any:
		for k, e := range t {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			t[k] = n
		}
		return t, nil
	case []any:
		for i, e := range t {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			t[i] = n
		}
		return t, nil
	}
	return v, nil
}

// number converts a JSON number: int64 when it is an integer that fits,
// else float64. A number beyond float64's range is an error.
func number(n json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return nil, fmt.Errorf("number %s is out of range", truncate(string(n), 40))
	}
	return f, nil
}

// kindOf names the JSON type of a decoded value for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case int64, float64, json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
