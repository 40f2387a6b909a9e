package receiver

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/segment"
)

// SegmentResponse is the JSON body of a 200 to a Segment call: Segment's
// own {"success": true}, and what the request's messages came to.
type SegmentResponse struct {
	Success     bool  `json:"success"`
	Accepted    int64 `json:"accepted"`
	Duplicates  int64 `json:"duplicates"`
	Quarantined int64 `json:"quarantined"`
	Rejected    int64 `json:"rejected"`
}

// writeKey is a Segment source's write key, kept as its SHA-256 so that
// comparing it takes the same time whatever is sent, its length included.
type writeKey [sha256.Size]byte

func newWriteKey(v string) (*writeKey, error) {
	if v == "" {
		return nil, errors.New("the write key is empty")
	}
	k := writeKey(sha256.Sum256([]byte(v)))
	return &k, nil
}

func (k *writeKey) matches(v string) bool {
	sum := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(k[:], sum[:]) == 1
}

// segmentRoutes serves Segment's HTTP Tracking API under the source's path:
// /v1/batch and one route per call. Other methods get 405 from the mux.
func (r *Receiver) segmentRoutes(mux *http.ServeMux) {
	base := strings.TrimSuffix(r.cfg.Spec.Webhook.Path, "/")
	mux.HandleFunc("POST "+base+"/v1/batch", func(w http.ResponseWriter, req *http.Request) { r.serveSegment(w, req, "") })
	for _, call := range segment.Calls {
		mux.HandleFunc("POST "+base+"/v1/"+call, func(w http.ResponseWriter, req *http.Request) { r.serveSegment(w, req, call) })
	}
}

// serveSegment takes one call (call != "") or a batch (call == ""). The
// whole request commits in one transaction or not at all: a message that
// Segment's spec refuses turns the request into a 400 naming it, and
// nothing of it is stored.
func (r *Receiver) serveSegment(w http.ResponseWriter, req *http.Request, call string) {
	basic, hasBasic := basicUser(req)
	if hasBasic && !r.writeKey.matches(basic) {
		unauthorized(w, "the write key in the Authorization header is not this source's")
		return
	}
	limit, what := int64(segment.MaxMessageBytes), "one message"
	if call == "" {
		limit, what = segment.MaxBatchBytes, "a batch"
	}
	body, err := readBody(req, limit)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			err = fmt.Errorf("the body is larger than %d bytes, Segment's limit for %s", limit, what)
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	receivedAt := r.now()
	// Who sent it is judged before what is wrong with it: a client
	// without the key learns nothing of the messages.
	in, key, err := decodeSegment(body, call, receivedAt)
	if !hasBasic {
		switch {
		case key == "":
			unauthorized(w, "no write key: send the source's write key as the HTTP Basic username or as writeKey in the body")
			return
		case !r.writeKey.matches(key):
			unauthorized(w, "the write key in the body is not this source's")
			return
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(in) == 0 {
		writeJSON(w, SegmentResponse{Success: true})
		return
	}
	res, out, err := r.commit(req.Context(), receivedAt, in)
	if err != nil {
		// The client retries on 5xx; nothing was committed.
		r.log.Error("ingesting Segment messages", "source", r.cfg.Name, "messages", len(in), "err", err)
		http.Error(w, "could not store the messages; retry", http.StatusServiceUnavailable)
		return
	}
	held := int64(out.Held)
	resp := SegmentResponse{Success: true, Accepted: int64(out.Inserted), Quarantined: held, Rejected: res.Rejected,
		// Whatever another request committed first is a duplicate too.
		Duplicates: res.Duplicates + int64(len(res.Events)-out.Inserted) + int64(len(res.Quarantine)) - held}
	writeJSON(w, resp)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="segment"`)
	http.Error(w, msg, http.StatusUnauthorized)
}

// basicUser is the username of an HTTP Basic Authorization header, Segment's
// way of sending the write key ("KEY:"); older clients leave out the colon.
func basicUser(req *http.Request) (string, bool) {
	if user, _, ok := req.BasicAuth(); ok {
		return user, true
	}
	h := req.Header.Get("Authorization")
	const prefix = "Basic "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(h[len(prefix):])
	if err != nil {
		return "", true // a Basic header that is no key: refused, not ignored
	}
	return string(raw), true
}

var errTooLarge = errors.New("body too large")

// readBody reads a body of at most limit bytes, gunzipped when it comes
// gzipped (the limits are Segment's on messages, not on their encoding).
func readBody(req *http.Request, limit int64) ([]byte, error) {
	var body io.Reader = req.Body
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			return nil, fmt.Errorf("the body is not gzip, as its Content-Encoding says: %v", err)
		}
		defer zr.Close()
		body = zr
	default:
		return nil, fmt.Errorf("Content-Encoding %q is not supported: send the body as it is, or gzip", enc)
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("could not read the body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// batchBody is a /v1/batch request.
type batchBody struct {
	Batch    []json.RawMessage `json:"batch"`
	SentAt   any               `json:"sentAt"`
	Context  map[string]any    `json:"context"`
	WriteKey string            `json:"writeKey"`
}

// decodeSegment turns a request body into the pipeline's inputs, each
// message checked and prepared by segment.Prepare, and returns the write
// key the body carries, also with an error once the body was read that far.
func decodeSegment(body []byte, call string, receivedAt time.Time) ([]pipeline.Input, string, error) {
	if call != "" {
		msg, ok := decodeMessage(body)
		if !ok {
			return nil, "", fmt.Errorf("the body is not a JSON object: /v1/%s takes one message", call)
		}
		key, _ := msg["writeKey"].(string)
		in, err := segmentInput(msg, body, call, segment.Envelope{}, receivedAt)
		if err != nil {
			return nil, key, err
		}
		return []pipeline.Input{in}, key, nil
	}
	var b batchBody
	if err := decodeJSON(body, &b); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return nil, b.WriteKey, fmt.Errorf("%s must be %s", typ.Field, batchFields[typ.Field])
		}
		return nil, "", fmt.Errorf(`the body is not a Segment batch, {"batch": [messages...]}: %v`, err)
	}
	switch {
	case b.Batch == nil:
		return nil, b.WriteKey, fmt.Errorf(`the body has no batch: /v1/batch takes {"batch": [messages...]}; one message goes to /v1/<type>`)
	case len(b.Batch) > segment.MaxBatchMessages:
		return nil, b.WriteKey, fmt.Errorf("the batch holds %d messages; Segment's limit is %d", len(b.Batch), segment.MaxBatchMessages)
	}
	env := segment.Envelope{SentAt: normalize(b.SentAt), Context: b.Context}
	if env.Context != nil {
		normalize(env.Context)
	}
	in := make([]pipeline.Input, len(b.Batch))
	for i, raw := range b.Batch {
		if len(raw) > segment.MaxMessageBytes {
			return nil, b.WriteKey, fmt.Errorf("batch[%d] is %d bytes, larger than %d, Segment's limit for one message", i, len(raw), segment.MaxMessageBytes)
		}
		msg, ok := decodeMessage(raw)
		if !ok {
			return nil, b.WriteKey, fmt.Errorf("batch[%d] is not a JSON object", i)
		}
		var err error
		if in[i], err = segmentInput(msg, raw, "", env, receivedAt); err != nil {
			where := fmt.Sprintf("batch[%d]", i)
			if id, ok := msg["messageId"].(string); ok && id != "" {
				where += fmt.Sprintf(" (messageId %q)", id)
			}
			return nil, b.WriteKey, fmt.Errorf("%s: %v", where, err)
		}
	}
	return in, b.WriteKey, nil
}

// batchFields says what each field of a batch must be.
var batchFields = map[string]string{
	"batch":    "an array of messages",
	"context":  "an object",
	"writeKey": "a string",
}

// segmentInput is one message as the pipeline takes it: prepared for the
// mapping, and as sent (without the write key) for a held record to keep,
// so that a retried delivery of it is known, whenever it arrives.
// raw is the message's JSON, which msg was decoded from; the message as
// sent is encoded from it only for a record that is held.
func segmentInput(msg map[string]any, raw []byte, call string, env segment.Envelope, receivedAt time.Time) (pipeline.Input, error) {
	delete(msg, "writeKey")
	if err := segment.Prepare(msg, call, env, receivedAt); err != nil {
		return pipeline.Input{}, err
	}
	return pipeline.Input{Record: connector.Record(msg), Sent: func() []byte { return sentMessage(raw) }}, nil
}

// sentMessage is a message as sent, without its write key, in one form
// whatever the spacing and order of its fields: how a held record is kept
// and its redelivery known.
func sentMessage(raw []byte) []byte {
	msg, ok := decodeMessage(raw)
	if !ok {
		return raw // decoded once already: cannot happen
	}
	delete(msg, "writeKey")
	b, err := json.Marshal(msg)
	if err != nil {
		return raw
	}
	return b
}

// decodeMessage decodes one message, a JSON object, with the connectors'
// decoder: numbers come as int64 or float64, as normalize makes them, in
// about half of encoding/json's time (decoding took most of a batch's CPU).
func decodeMessage(raw []byte) (map[string]any, bool) {
	rec, bad := connector.DecodeObject(raw, "")
	return rec, bad == nil
}

// decodeJSON decodes exactly one JSON value, numbers as json.Number.
func decodeJSON(data []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}
