package connector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

const (
	// lineBuffer is the read buffer of JSON Lines: the most the reader is
	// ahead of the record it returns, for short lines.
	lineBuffer = 64 << 10
	// downloadIdleTimeout ends a file download that makes no progress.
	downloadIdleTimeout = 2 * time.Minute
)

// utf8BOM is skipped at the start of a file: spreadsheet exports add it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// openFile opens the file or URL of a file connector and returns a reader
// that streams its records: nothing is loaded whole, whatever its size. A
// URL is downloaded under ctx, so ctx must outlive the reader.
//
// JSON numbers become int64 when written as integers that fit, else
// float64, so CEL sees int or double (use double(record.x) where both
// occur); CSV values are strings. A UTF-8 byte order mark is skipped.
func openFile(ctx context.Context, fc *v1alpha1.FileConnector, opts Options) (Reader, error) {
	src, name, err := openSource(ctx, fc, opts)
	if err != nil {
		return nil, err
	}
	r, err := newFileReader(src, name, fc.Format)
	if err != nil {
		_ = src.Close()
		return nil, err
	}
	return r, nil
}

// openSource opens the bytes of the file: a path relative to BaseDir, or
// an http(s) URL fetched with retries.
func openSource(ctx context.Context, fc *v1alpha1.FileConnector, opts Options) (io.ReadCloser, string, error) {
	switch {
	case fc.URL != "" && fc.Path != "":
		return nil, "", errors.New("spec.batch.file: set exactly one of url and path, not both")
	case fc.Path != "":
		p := fc.Path
		if !filepath.IsAbs(p) && opts.BaseDir != "" {
			p = filepath.Join(opts.BaseDir, p)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, "", fmt.Errorf("spec.batch.file.path: %w", err)
		}
		if st, err := f.Stat(); err == nil && st.IsDir() {
			_ = f.Close()
			return nil, "", fmt.Errorf("spec.batch.file.path: %s is a directory, not a file", p)
		}
		return f, p, nil
	case fc.URL != "":
		u, err := url.Parse(fc.URL)
		if err != nil {
			return nil, "", fmt.Errorf("spec.batch.file.url: %w", err)
		}
		switch u.Scheme {
		case "http", "https":
			body, err := download(ctx, u, opts)
			if err != nil {
				return nil, "", err
			}
			return body, redact(u), nil
		case "s3":
			return nil, "", fmt.Errorf("spec.batch.file.url: s3:// URLs are not supported yet; mount the object into the pod and use spec.batch.file.path, or serve it over https")
		default:
			return nil, "", fmt.Errorf("spec.batch.file.url: scheme %q is not supported; use https://, http:// or a path", u.Scheme)
		}
	}
	return nil, "", errors.New("spec.batch.file: set one of url or path")
}

// download GETs u with retries on network errors, 429 and 5xx, and returns
// the body to stream. A body that stalls for downloadIdleTimeout ends with
// an error.
func download(ctx context.Context, u *url.URL, opts Options) (io.ReadCloser, error) {
	client := opts.HTTPClient
	if client == nil {
		client = newHTTPClient()
	}
	var body io.ReadCloser
	err := newRetryPolicy(opts).run(ctx, func(ctx context.Context) error {
		actx, cancel := context.WithCancel(ctx)
		req, err := http.NewRequestWithContext(actx, http.MethodGet, u.String(), nil)
		if err != nil {
			cancel()
			return fmt.Errorf("spec.batch.file.url: %w", err)
		}
		req.Header.Set("User-Agent", userAgent)
		resp, err := client.Do(req)
		if err != nil {
			cancel()
			return transportError(ctx, actx, http.MethodGet, u, 0, err)
		}
		if err := checkResponse(resp, time.Now()); err != nil {
			_ = resp.Body.Close()
			cancel()
			return err
		}
		body = newIdleBody(resp.Body, cancel, downloadIdleTimeout)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("downloading spec.batch.file.url: %w", err)
	}
	return body, nil
}

// idleBody cancels its request when no Read returns for the idle timeout.
type idleBody struct {
	body   io.ReadCloser
	cancel context.CancelFunc
	idle   time.Duration
	timer  *time.Timer
	once   sync.Once
}

func newIdleBody(body io.ReadCloser, cancel context.CancelFunc, idle time.Duration) *idleBody {
	return &idleBody{body: body, cancel: cancel, idle: idle, timer: time.AfterFunc(idle, cancel)}
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.idle)
	n, err := b.body.Read(p)
	b.timer.Reset(b.idle)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading the download (nothing for %s, or the connection broke): %w", b.idle, err)
	}
	return n, err
}

func (b *idleBody) Close() error {
	var err error
	b.once.Do(func() {
		b.timer.Stop()
		err = b.body.Close()
		b.cancel()
	})
	return err
}

// newFileReader returns the reader of one format over src, which it closes.
func newFileReader(src io.ReadCloser, name string, format v1alpha1.FileFormat) (Reader, error) {
	var next func() (Record, error)
	in := &bomSkipper{src: src}
	switch format {
	case v1alpha1.FileFormatJSONLines:
		next = newJSONLines(in, name).next
	case v1alpha1.FileFormatCSV:
		next = newCSV(in, name).next
	case v1alpha1.FileFormatJSON:
		next = newJSONArray(in, name).next
	default:
		return nil, fmt.Errorf("spec.batch.file.format %q is not one of JSONLines, CSV, JSON", format)
	}
	return &fileReader{src: src, next: next}, nil
}

// bomSkipper drops a UTF-8 byte order mark at the start of its input:
// spreadsheet exports add one, and it is not JSON.
type bomSkipper struct {
	src     io.Reader
	checked bool
	pending []byte
}

func (b *bomSkipper) Read(p []byte) (int, error) {
	if !b.checked {
		b.checked = true
		head := make([]byte, len(utf8BOM))
		n, err := io.ReadFull(b.src, head)
		b.pending = head[:n]
		if bytes.Equal(b.pending, utf8BOM) {
			b.pending = nil
		}
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return 0, err
		}
	}
	if len(b.pending) > 0 {
		n := copy(p, b.pending)
		b.pending = b.pending[n:]
		return n, nil
	}
	return b.src.Read(p)
}

// fileReader adapts a format's next function to Reader. A file has no
// cursor: every run reads it whole.
type fileReader struct {
	src  io.Closer
	next func() (Record, error)
	err  error // sticky: the run is over
}

func (r *fileReader) Next(ctx context.Context) (Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rec, err := r.next()
	var de *DecodeError
	if err != nil && !errors.As(err, &de) {
		r.err = err
	}
	return rec, err
}

func (r *fileReader) Cursor() string { return "" }

func (r *fileReader) Close() error { return r.src.Close() }

// jsonLines reads one JSON object per line. Blank lines are skipped; a line
// that is not a JSON object is a *DecodeError and reading goes on.
type jsonLines struct {
	name string
	sc   *bufio.Scanner
	line int
	keys map[string]string
}

func newJSONLines(src io.Reader, name string) *jsonLines {
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, lineBuffer), maxRecordBytes)
	return &jsonLines{name: name, sc: sc, keys: map[string]string{}}
}

func (j *jsonLines) next() (Record, error) {
	for j.sc.Scan() {
		j.line++
		b := j.sc.Bytes()
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		v, err := decodeJSONKeys(b, j.keys)
		if err != nil {
			return nil, decodeError(b, "line %d: not valid JSON: %v", j.line, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, decodeError(b, "line %d: %s, not a JSON object", j.line, kindOf(v))
		}
		return Record(m), nil
	}
	if err := j.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s line %d: %w", j.name, j.line+1, errRecordTooLong)
		}
		return nil, fmt.Errorf("reading %s: %w", j.name, err)
	}
	return nil, io.EOF
}

// csvRows reads CSV whose first row names the fields. Values are strings.
// A row with the wrong number of fields, or with broken quoting, is a
// *DecodeError and reading goes on.
type csvRows struct {
	name   string
	rec    *rawRecorder
	cr     *csv.Reader
	header []string
	row    int
}

func newCSV(src io.Reader, name string) *csvRows {
	rec := &rawRecorder{src: src}
	cr := csv.NewReader(rec)
	cr.ReuseRecord = false
	return &csvRows{name: name, rec: rec, cr: cr}
}

func (c *csvRows) next() (Record, error) {
	if c.header == nil {
		if err := c.readHeader(); err != nil {
			return nil, err
		}
	}
	start := c.cr.InputOffset()
	fields, err := c.cr.Read()
	end := c.cr.InputOffset()
	raw := c.rec.take(start, end)
	if c.rec.err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, c.rec.err)
	}
	if err == io.EOF {
		return nil, io.EOF
	}
	c.row++
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return nil, fmt.Errorf("reading %s: %w", c.name, err)
		}
		raw = bytes.Trim(raw, "\r\n")
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return nil, decodeError(raw, "CSV line %d: %d fields, but the header names %d", pe.StartLine, len(fields), len(c.header))
		}
		return nil, decodeError(raw, "CSV: %v", pe)
	}
	r := make(Record, len(c.header))
	for i, h := range c.header {
		if h != "" {
			r[h] = fields[i]
		}
	}
	return r, nil
}

// readHeader reads the header row: names must be distinct; columns with an
// empty name (a trailing comma) are left out of records.
func (c *csvRows) readHeader() error {
	h, err := c.cr.Read()
	c.rec.take(0, c.cr.InputOffset())
	if c.rec.err != nil {
		return fmt.Errorf("%s: %w", c.name, c.rec.err)
	}
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("%s: the header row is not valid CSV: %w", c.name, err)
	}
	seen := map[string]bool{}
	for _, n := range h {
		if n != "" && seen[n] {
			return fmt.Errorf("%s: the header row names the column %q twice", c.name, truncate(n, 64))
		}
		seen[n] = true
	}
	c.header = h
	return nil
}

// rawRecorder keeps the bytes read from src that encoding/csv has not yet
// consumed, so a bad row can be quarantined as it was written. It fails
// once it holds more than maxRecordBytes, i.e. one row is that long.
type rawRecorder struct {
	src  io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
	err  error
}

func (r *rawRecorder) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.src.Read(p)
	r.buf = append(r.buf, p[:n]...)
	if len(r.buf) > maxRecordBytes+lineBuffer {
		r.err = errRecordTooLong
		return n, r.err
	}
	return n, err
}

// take returns the bytes at input offsets [start, end) (at most maxRaw of
// them) and forgets everything before end.
func (r *rawRecorder) take(start, end int64) []byte {
	var raw []byte
	lo, hi := start-r.base, end-r.base
	if lo >= 0 && hi <= int64(len(r.buf)) && lo <= hi {
		raw = bytes.Clone(r.buf[lo:min(hi, lo+maxRaw)])
	}
	if hi > 0 {
		n := copy(r.buf, r.buf[min(hi, int64(len(r.buf))):])
		r.buf = r.buf[:n]
		r.base = end
	}
	return raw
}

// jsonArray streams the elements of a top-level JSON array, one at a time.
// A non-object element is a *DecodeError; a broken document ends the run,
// since nothing after the break can be trusted.
type jsonArray struct {
	name    string
	guard   *sizeGuard
	dec     *json.Decoder
	started bool
	done    bool
	index   int
	keys    map[string]string
}

func newJSONArray(src io.Reader, name string) *jsonArray {
	g := &sizeGuard{src: src, limit: maxRecordBytes + lineBuffer}
	return &jsonArray{name: name, guard: g, dec: json.NewDecoder(g), keys: map[string]string{}}
}

func (j *jsonArray) next() (Record, error) {
	if j.done {
		return nil, io.EOF
	}
	if !j.started {
		j.started = true
		if err := j.open(); err != nil {
			return nil, err
		}
	}
	if !j.dec.More() {
		return nil, j.close()
	}
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		return nil, j.broken(err)
	}
	j.guard.mark()
	j.index++
	v, err := decodeJSONKeys(raw, j.keys)
	if err != nil {
		return nil, decodeError(raw, "array element %d: %v", j.index, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, decodeError(raw, "array element %d is %s, not an object", j.index, kindOf(v))
	}
	return Record(m), nil
}

// open consumes the opening bracket (after an optional byte order mark).
func (j *jsonArray) open() error {
	tok, err := j.dec.Token()
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("%s is empty; the JSON format needs an array of objects (use [] for none)", j.name)
		}
		return j.broken(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("%s: the document is not a JSON array of objects (it starts with %v); use format JSONLines for one object per line", j.name, tok)
	}
	return nil
}

// close consumes the closing bracket and checks that nothing follows.
func (j *jsonArray) close() error {
	j.done = true
	if _, err := j.dec.Token(); err != nil {
		return j.broken(err)
	}
	if tok, err := j.dec.Token(); err != io.EOF {
		if err != nil {
			return j.broken(err)
		}
		return fmt.Errorf("%s: unexpected %v after the closing ] of the array", j.name, tok)
	}
	return io.EOF
}

func (j *jsonArray) broken(err error) error {
	j.done = true
	if errors.Is(err, errRecordTooLong) {
		return fmt.Errorf("%s array element %d: %w", j.name, j.index+1, err)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%s is not valid JSON at byte %d (after array element %d): %v", j.name, se.Offset, j.index, se)
	}
	return fmt.Errorf("reading %s (after array element %d): %w", j.name, j.index, err)
}

// sizeGuard fails once more than limit bytes were read since the last mark.
type sizeGuard struct {
	src   io.Reader
	n     int64
	limit int64
}

func (g *sizeGuard) Read(p []byte) (int, error) {
	if g.n > g.limit {
		return 0, errRecordTooLong
	}
	n, err := g.src.Read(p)
	g.n += int64(n)
	return n, err
}

func (g *sizeGuard) mark() { g.n = 0 }
