package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

func readString(t *testing.T, format v1alpha1.FileFormat, s string) ([]result, error) {
	t.Helper()
	r, err := newFileReader(io.NopCloser(strings.NewReader(s)), "test", format)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	return drain(t, r)
}

func decodeErr(t *testing.T, r result) *DecodeError {
	t.Helper()
	var de *DecodeError
	if !errors.As(r.err, &de) {
		t.Fatalf("got %v, want a *DecodeError", r.err)
	}
	return de
}

func TestJSONLines(t *testing.T) {
	rs, err := readString(t, v1alpha1.FileFormatJSONLines,
		"\uFEFF{\"id\":\"a\",\"n\":1,\"x\":1.5,\"big\":12345678901234567890,\"e\":1e3,\"ok\":true,\"nil\":null,\"obj\":{\"list\":[1,2.5,\"s\"]}}\r\n"+
			"\n   \n"+
			"  {\"id\":\"b\"}  \n"+
			"{\"id\":\"c\"}") // no final newline
	if err != nil {
		t.Fatal(err)
	}
	recs := records(t, rs)
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	want := Record{
		"id": "a", "n": int64(1), "x": 1.5, "big": 12345678901234567890.0, "e": 1000.0, "ok": true, "nil": nil,
		"obj": map[string]any{"list": []any{int64(1), 2.5, "s"}},
	}
	if !reflect.DeepEqual(recs[0], want) {
		t.Errorf("record 1:\n got %#v\nwant %#v", recs[0], want)
	}
	if recs[1]["id"] != "b" || recs[2]["id"] != "c" {
		t.Errorf("records 2 and 3: %v %v", recs[1], recs[2])
	}
}

func TestJSONLinesMalformed(t *testing.T) {
	lines := []string{
		`{"id":1}`,
		`not json`,
		`[1,2]`,
		``,
		`{"id":`,
		`"a string"`,
		`{"a":1} {"b":2}`,
		`{"id":2}`,
		`{"huge":1e999}`,
		`null`,
		"{\"bad utf8\":\"\xff\"}",
		`{"id":3}`,
	}
	rs, err := readString(t, v1alpha1.FileFormatJSONLines, strings.Join(lines, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := shape(rs); got != "RDDDDDRDDRR" {
		t.Fatalf("shape %s, want RDDDDDRDDRR", got)
	}
	de := decodeErr(t, rs[1])
	if string(de.Raw) != "not json" || !strings.Contains(de.Reason, "line 2") {
		t.Errorf("decode error %q, raw %q: want the raw line and its number", de.Reason, de.Raw)
	}
	if de := decodeErr(t, rs[2]); !strings.Contains(de.Reason, "an array, not a JSON object") {
		t.Errorf("reason %q", de.Reason)
	}
	if de := decodeErr(t, rs[7]); !strings.Contains(de.Reason, "out of range") || !strings.Contains(de.Reason, "line 9") {
		t.Errorf("reason %q", de.Reason)
	}
	if rs[10].rec["id"] != int64(3) {
		t.Errorf("last record %v", rs[10].rec)
	}
}

func TestDecodeErrorRawIsCapped(t *testing.T) {
	long := strings.Repeat("x", 3*maxRaw)
	rs, err := readString(t, v1alpha1.FileFormatJSONLines, long+"\n{\"ok\":1}\n")
	if err != nil {
		t.Fatal(err)
	}
	if shape(rs) != "DR" {
		t.Fatalf("shape %s", shape(rs))
	}
	if n := len(decodeErr(t, rs[0]).Raw); n != maxRaw {
		t.Errorf("raw is %d bytes, want %d", n, maxRaw)
	}
}

func TestLineTooLong(t *testing.T) {
	// One line longer than the cap ends the run with an error that says
	// what is wrong, rather than holding an arbitrarily large line.
	src := io.MultiReader(strings.NewReader("{\"ok\":1}\n"), &repeatReader{b: 'x', n: maxRecordBytes + 1}, strings.NewReader("\n{\"ok\":2}\n"))
	r, _ := newFileReader(io.NopCloser(src), "big.jsonl", v1alpha1.FileFormatJSONLines)
	rs, err := drain(t, r)
	if len(rs) != 1 || !errors.Is(err, errRecordTooLong) || !strings.Contains(err.Error(), "big.jsonl line 2") {
		t.Fatalf("got %d records and %v; want 1 and a too-long error naming line 2", len(rs), err)
	}
	if _, again := r.Next(context.Background()); again == nil || again.Error() != err.Error() {
		t.Errorf("Next after the error: %v, want the same error", again)
	}
}

func TestRecordTooLong(t *testing.T) {
	// The same cap holds for a CSV row (here an unclosed quote) and a JSON
	// array element.
	for _, tc := range []struct {
		format     v1alpha1.FileFormat
		head, tail string
		records    int
	}{
		{v1alpha1.FileFormatCSV, "id,v\n1,a\n2,\"", "\"\n3,c\n", 1},
		{v1alpha1.FileFormatJSON, `[{"id":1},{"v":"`, `"},{"id":3}]`, 1},
	} {
		src := io.MultiReader(strings.NewReader(tc.head), &repeatReader{b: 'x', n: maxRecordBytes + lineBuffer + 1}, strings.NewReader(tc.tail))
		r, _ := newFileReader(io.NopCloser(src), "big", tc.format)
		rs, err := drain(t, r)
		if len(rs) != tc.records || !errors.Is(err, errRecordTooLong) {
			t.Errorf("%s: %d results and %v; want %d and a too-long error", tc.format, len(rs), err, tc.records)
		}
	}
}

func TestCSV(t *testing.T) {
	rs, err := readString(t, v1alpha1.FileFormatCSV,
		"\uFEFFid,amount,note,\r\n"+
			"1,4.20,plain,\r\n"+
			"\r\n"+
			"2,0,\"quoted, with comma\",\n"+
			"3,,\"multi\nline \"\"quote\"\"\",\n")
	if err != nil {
		t.Fatal(err)
	}
	recs := records(t, rs)
	want := []Record{
		{"id": "1", "amount": "4.20", "note": "plain"},
		{"id": "2", "amount": "0", "note": "quoted, with comma"},
		{"id": "3", "amount": "", "note": "multi\nline \"quote\""},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("got %#v\nwant %#v", recs, want)
	}
}

func TestCSVMalformed(t *testing.T) {
	rs, err := readString(t, v1alpha1.FileFormatCSV, strings.Join([]string{
		"id,name",
		"1,a",
		"2",            // too few
		"3,b,extra",    // too many
		`4,bare"quote`, // bare quote
		`5,"x"y`,       // junk after a quoted field
		"6,f",
		"",
	}, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := shape(rs); got != "RDDDDR" {
		t.Fatalf("shape %s, want RDDDDR: %v", got, rs)
	}
	de := decodeErr(t, rs[1])
	if string(de.Raw) != "2" || !strings.Contains(de.Reason, "1 fields, but the header names 2") {
		t.Errorf("decode error %q raw %q", de.Reason, de.Raw)
	}
	if de := decodeErr(t, rs[2]); string(de.Raw) != "3,b,extra" {
		t.Errorf("raw %q", de.Raw)
	}
	if de := decodeErr(t, rs[3]); string(de.Raw) != `4,bare"quote` || !strings.Contains(de.Reason, "quote") {
		t.Errorf("decode error %q raw %q", de.Reason, de.Raw)
	}
	if rs[5].rec["id"] != "6" {
		t.Errorf("last record %v", rs[5].rec)
	}
}

func TestCSVUnclosedQuoteSwallowsTheRest(t *testing.T) {
	// An unclosed quote runs to the end of the file: one decode error, no
	// records invented from the rest, no error.
	rs, err := readString(t, v1alpha1.FileFormatCSV, "id,name\n1,a\n2,\"open\n3,c\n")
	if err != nil {
		t.Fatal(err)
	}
	if shape(rs) != "RD" {
		t.Fatalf("shape %s", shape(rs))
	}
}

func TestCSVHeader(t *testing.T) {
	if rs, err := readString(t, v1alpha1.FileFormatCSV, ""); err != nil || len(rs) != 0 {
		t.Errorf("empty file: %v, %v; want no records", rs, err)
	}
	if rs, err := readString(t, v1alpha1.FileFormatCSV, "id,name\n"); err != nil || len(rs) != 0 {
		t.Errorf("header only: %v, %v; want no records", rs, err)
	}
	if _, err := readString(t, v1alpha1.FileFormatCSV, "id,name,id\n1,2,3\n"); err == nil || !strings.Contains(err.Error(), `"id" twice`) {
		t.Errorf("duplicate column: %v", err)
	}
	if _, err := readString(t, v1alpha1.FileFormatCSV, "id,\"na\"me\n1,2\n"); err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("broken header: %v", err)
	}
}

func TestJSONArray(t *testing.T) {
	rs, err := readString(t, v1alpha1.FileFormatJSON, "\uFEFF [\n {\"id\": 1, \"v\": {\"x\": [1.5]}},\n{\"id\":\"two\"}\n]\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{"id": int64(1), "v": map[string]any{"x": []any{1.5}}}, {"id": "two"}}
	if got := records(t, rs); !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if rs, err := readString(t, v1alpha1.FileFormatJSON, "[]"); err != nil || len(rs) != 0 {
		t.Errorf("[]: %v %v", rs, err)
	}
}

func TestJSONArrayMalformed(t *testing.T) {
	rs, err := readString(t, v1alpha1.FileFormatJSON, `[{"id":1}, 2, "x", null, [1], {"n":1e999}, {"id":2}]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := shape(rs); got != "RDDDDDR" {
		t.Fatalf("shape %s, want RDDDDDR", got)
	}
	if de := decodeErr(t, rs[4]); string(de.Raw) != "[1]" || !strings.Contains(de.Reason, "element 5 is an array") {
		t.Errorf("decode error %q raw %q", de.Reason, de.Raw)
	}

	for name, doc := range map[string]string{
		"truncated":        `[{"id":1}, {"id":`,
		"missing comma":    `[{"id":1} {"id":2}]`,
		"trailing comma":   `[{"id":1},]`,
		"not an array":     `{"id":1}`,
		"empty":            ``,
		"data after":       `[{"id":1}] [{"id":2}]`,
		"garbage after":    `[{"id":1}] x`,
		"unclosed":         `[{"id":1}`,
		"a bare number":    `42`,
		"garbage in array": `[{"id":1}, x]`,
	} {
		t.Run(name, func(t *testing.T) {
			rs, err := readString(t, v1alpha1.FileFormatJSON, doc)
			if err == nil {
				t.Fatalf("read %d results and no error", len(rs))
			}
			var de *DecodeError
			if errors.As(err, &de) {
				t.Fatalf("a broken document is a DecodeError: %v", err)
			}
			if !strings.Contains(err.Error(), "test") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// repeatReader yields n copies of b.
type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = r.b
	}
	r.n -= n
	return n, nil
}

// genReader produces a document piece by piece without ever holding it,
// and counts what was read.
type genReader struct {
	pieces func(i int) []byte // nil ends
	i      int
	cur    []byte
	read   int64
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.cur) == 0 {
		g.cur = g.pieces(g.i)
		if g.cur == nil {
			return 0, io.EOF
		}
		g.i++
	}
	n := copy(p, g.cur)
	g.cur = g.cur[n:]
	g.read += int64(n)
	return n, nil
}

func TestLargeInputIsStreamed(t *testing.T) {
	// 200k records: after each record, the reader must not have read more
	// of the input than the record's end plus one buffer.
	const n = 200_000
	const slack = lineBuffer + 4096
	line := func(i int) string { return fmt.Sprintf(`{"id":%d,"pad":"%s"}`, i, strings.Repeat("p", i%50)) }
	for _, tc := range []struct {
		format v1alpha1.FileFormat
		piece  func(i int) []byte // i in [0, n+2): head, records, tail
		field  func(Record) string
	}{
		{v1alpha1.FileFormatJSONLines, func(i int) []byte {
			if i == 0 || i == n+1 {
				return []byte{'\n'}
			}
			return []byte(line(i-1) + "\n")
		}, func(r Record) string { return fmt.Sprint(r["id"]) }},
		{v1alpha1.FileFormatJSON, func(i int) []byte {
			switch {
			case i == 0:
				return []byte("[")
			case i == n+1:
				return []byte("]")
			case i == 1:
				return []byte(line(i - 1))
			}
			return []byte("," + line(i-1))
		}, func(r Record) string { return fmt.Sprint(r["id"]) }},
		{v1alpha1.FileFormatCSV, func(i int) []byte {
			switch {
			case i == 0:
				return []byte("id,pad\n")
			case i == n+1:
				return []byte("\n")
			}
			return fmt.Appendf(nil, "%d,%s\n", i-1, strings.Repeat("p", (i-1)%50))
		}, func(r Record) string { return r["id"].(string) }},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			g := &genReader{pieces: func(i int) []byte {
				if i >= n+2 {
					return nil
				}
				return tc.piece(i)
			}}
			r, err := newFileReader(io.NopCloser(g), "gen", tc.format)
			if err != nil {
				t.Fatal(err)
			}
			consumed := int64(len(tc.piece(0))) // the head
			for i := range n {
				rec, err := r.Next(context.Background())
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if got := tc.field(rec); got != fmt.Sprint(i) {
					t.Fatalf("record %d has id %s", i, got)
				}
				consumed += int64(len(tc.piece(i + 1))) // record i's piece
				if ahead := g.read - consumed; ahead > slack {
					t.Fatalf("after record %d the reader is %d bytes ahead (> %d): it is not streaming", i, ahead, slack)
				}
			}
			if _, err := r.Next(context.Background()); err != io.EOF {
				t.Fatalf("after the last record: %v, want io.EOF", err)
			}
		})
	}
}

func TestFilePath(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "data", "events.jsonl")
	if err := os.WriteFile(abs, []byte("{\"id\":1}\n{\"id\":2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func(path, base string) (Reader, error) {
		return Open(context.Background(), &v1alpha1.BatchSource{File: &v1alpha1.FileConnector{Path: path, Format: v1alpha1.FileFormatJSONLines}}, Options{BaseDir: base})
	}
	for _, tc := range []struct{ path, base string }{
		{"data/events.jsonl", dir},
		{"./data/../data/events.jsonl", dir},
		{abs, "/somewhere/else"},
	} {
		r, err := open(tc.path, tc.base)
		if err != nil {
			t.Fatalf("%s in %s: %v", tc.path, tc.base, err)
		}
		rs, err := drain(t, r)
		if err != nil || len(records(t, rs)) != 2 {
			t.Errorf("%s: %d records, %v", tc.path, len(rs), err)
		}
		if r.Cursor() != "" {
			t.Errorf("a file has no cursor, got %q", r.Cursor())
		}
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	}
	if _, err := open("data/missing.jsonl", dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "data/missing.jsonl")) {
		t.Errorf("missing file: %v; want an error naming the resolved path", err)
	}
	if _, err := open("data", dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
}

func TestFileURL(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flaky.csv":
			if hits.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, "id,name\n1,a\n2,b\n")
		case "/events.json":
			_, _ = io.WriteString(w, `[{"id":1}]`)
		default:
			http.Error(w, "no such object", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	open := func(u string, format v1alpha1.FileFormat) (Reader, error) {
		return Open(context.Background(), &v1alpha1.BatchSource{File: &v1alpha1.FileConnector{URL: u, Format: format}},
			Options{HTTPClient: srv.Client(), Backoff: 1})
	}

	r, err := open(srv.URL+"/flaky.csv", v1alpha1.FileFormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := drain(t, r)
	if err != nil || len(records(t, rs)) != 2 || hits.Load() != 2 {
		t.Errorf("flaky download: %d records, %v, %d requests; want 2 records after a retry", len(rs), err, hits.Load())
	}
	_ = r.Close()

	r, err = open(srv.URL+"/events.json", v1alpha1.FileFormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := drain(t, r); err != nil || len(rs) != 1 {
		t.Errorf("json download: %v %v", rs, err)
	}
	_ = r.Close()

	if _, err := open(srv.URL+"/missing.json?token=hunter2", v1alpha1.FileFormatJSON); err == nil ||
		!strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "no such object") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("404: %v; want the status and body, not the query", err)
	}
	if _, err := open("s3://bucket/key.jsonl", v1alpha1.FileFormatJSONLines); err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("s3: %v", err)
	}
	if _, err := open("ftp://host/x", v1alpha1.FileFormatJSONLines); err == nil {
		t.Error("ftp: no error")
	}
}

func TestFileFormatUnknown(t *testing.T) {
	if _, err := newFileReader(io.NopCloser(bytes.NewReader(nil)), "x", "XML"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestOpenNeedsOneConnector(t *testing.T) {
	for _, b := range []*v1alpha1.BatchSource{
		nil,
		{},
		{File: &v1alpha1.FileConnector{Path: "x"}, HTTP: &v1alpha1.HTTPConnector{URL: "http://x"}},
	} {
		if _, err := Open(context.Background(), b, Options{}); err == nil {
			t.Errorf("Open(%+v) succeeded", b)
		}
	}
}
