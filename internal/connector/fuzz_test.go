package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// fuzzRead reads data in format to the end and checks that every Next gives
// a record of JSON-like values, a *DecodeError with capped raw bytes, io.EOF
// or an error that then sticks. It returns the number of records and
// decode errors.
func fuzzRead(t *testing.T, format v1alpha1.FileFormat, data []byte) (recs, bad int) {
	r, err := newFileReader(io.NopCloser(bytes.NewReader(data)), "fuzz", format)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	for i := 0; ; i++ {
		if i > len(data)+2 {
			t.Fatalf("%d results from %d bytes: the reader does not end", i, len(data))
		}
		rec, err := r.Next(context.Background())
		var de *DecodeError
		switch {
		case err == nil:
			if rec == nil {
				t.Fatal("nil record without an error")
			}
			if format == v1alpha1.FileFormatCSV {
				for k, v := range rec {
					if _, ok := v.(string); !ok {
						t.Fatalf("CSV field %q is %T, want string", k, v)
					}
				}
			} else if err := checkValue(map[string]any(rec)); err != nil {
				t.Fatal(err)
			}
			recs++
		case errors.As(err, &de):
			if rec != nil {
				t.Fatal("a record with a decode error")
			}
			if len(de.Raw) > maxRaw {
				t.Fatalf("decode error keeps %d raw bytes", len(de.Raw))
			}
			if de.Reason == "" {
				t.Fatal("decode error without a reason")
			}
			bad++
		case err == io.EOF:
			if _, again := r.Next(context.Background()); again != io.EOF {
				t.Fatalf("Next after io.EOF: %v", again)
			}
			return recs, bad
		default:
			if again, err2 := r.Next(context.Background()); again != nil || err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Next after %v: %v, %v; want the same error", err, again, err2)
			}
			return recs, bad
		}
	}
}

// checkValue accepts only what decoding JSON may yield.
func checkValue(v any) error {
	switch t := v.(type) {
	case nil, bool, string, int64, float64:
		return nil
	case []any:
		for _, e := range t {
			if err := checkValue(e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		for _, e := range t {
			if err := checkValue(e); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("value of type %T", v)
}

func FuzzJSONLines(f *testing.F) {
	for _, s := range []string{
		"{\"id\":1}\n{\"id\":2.5,\"x\":[1,{\"y\":null}]}\n",
		"\n\n  \n",
		"not json\n[1]\n\"s\"\n{\"a\":1} {\"b\":2}\n{\"n\":1e999}\n",
		"\uFEFF{\"a\":\"\xff\"}\r\n",
		"{\"a\":12345678901234567890}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, bad := fuzzRead(t, v1alpha1.FileFormatJSONLines, data)
		if lines := bytes.Count(data, []byte{'\n'}) + 1; recs+bad > lines {
			t.Fatalf("%d results from %d lines", recs+bad, lines)
		}
	})
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"id,name\n1,a\n2,b\n",
		"id,name\n1\n2,b,c\n3,\"q\"\"x\"\n4,a\"b\n",
		"a,b,a\n1,2,3\n",
		"\uFEFFid,\r\n1,\r\n",
		"id\n\"open\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, v1alpha1.FileFormatCSV, data)
	})
}

func FuzzJSONArray(f *testing.F) {
	for _, s := range []string{
		`[{"id":1},{"id":"x","v":[1.5,null]}]`,
		`[{"id":1}, 2, "x", null, [1], {"n":1e999}, {"id":2}]`,
		`[{"id":1}, {"id":`,
		`{"id":1}`,
		`[] x`,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, v1alpha1.FileFormatJSON, data)
	})
}
