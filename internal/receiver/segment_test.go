package receiver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/receiver"
	"github.com/cjm-dev/journey-operator/internal/store"
)

const writeKey = "wk_streaming_app_3f9a"

// appSource is a Segment source: the streaming apps' events.
func appSource(mapping v1alpha1.EventMapping) *v1alpha1.TouchpointSource {
	return &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "app-events"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "app", System: "segment",
			Webhook: &v1alpha1.WebhookSource{Path: "/segment", Protocol: v1alpha1.WebhookProtocolSegment,
				WriteKeySecretRef: &v1alpha1.SecretKeyRef{Name: "segment", Key: "writeKey"}},
			Mapping: mapping,
		},
	}
}

func segmentReceiver(t *testing.T, dsn string, src *v1alpha1.TouchpointSource, rules []v1alpha1.ValidationRule, clock func() time.Time) (http.Handler, store.Store) {
	t.Helper()
	return newReceiver(t, dsn, src, rules, map[string]map[string]string{"media/segment": {"writeKey": writeKey}}, clock)
}

// stored reads back every event of a source, by event ID.
func stored(t *testing.T, st store.Store, source string) map[string]store.Event {
	t.Helper()
	out := map[string]store.Event{}
	err := st.ScanEvents(context.Background(), store.EventQuery{Sources: []string{source}}, func(ev *store.Event, attrs []byte) error {
		e := store.Event{EventID: strings.Clone(ev.EventID), UserID: strings.Clone(ev.UserID), Type: strings.Clone(ev.Type),
			Touchpoint: strings.Clone(ev.Touchpoint), OccurredAt: ev.OccurredAt}
		if attrs != nil {
			if err := json.Unmarshal(attrs, &e.Attributes); err != nil {
				return err
			}
		}
		out[e.EventID] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tally serves h and adds up what its 200s report. Its first cut requests
// are cut: the connection closes without an answer, after the handler
// committed them (afterCommit) or before it saw them, as when a receiver
// is killed mid-request.
type tally struct {
	h           http.Handler
	cut         int32
	afterCommit bool

	calls               atomic.Int32
	mu                  sync.Mutex
	accepted, duplicate int64
}

func (tl *tally) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	cut := tl.calls.Add(1) <= tl.cut
	if cut && !tl.afterCommit {
		hangUp(w)
		return
	}
	rec := httptest.NewRecorder()
	tl.h.ServeHTTP(rec, req)
	if rec.Code == http.StatusOK {
		var resp receiver.SegmentResponse
		_ = json.Unmarshal(rec.Body.Bytes(), &resp)
		tl.mu.Lock()
		tl.accepted += resp.Accepted
		tl.duplicate += resp.Duplicates
		tl.mu.Unlock()
	}
	if cut {
		hangUp(w)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// delivered counts what the client reports sent and failed.
type delivered struct{ ok, failed atomic.Int32 }

func (d *delivered) Success(analytics.Message)        { d.ok.Add(1) }
func (d *delivered) Failure(analytics.Message, error) { d.failed.Add(1) }

type testLog struct{ t *testing.T }

func (l testLog) Logf(format string, args ...any) { l.t.Logf("analytics-go: "+format, args...) }
func (l testLog) Errorf(format string, args ...any) {
	l.t.Logf("analytics-go error: "+format, args...)
}

// appMessages are what a streaming app sends: playback tracks of signed-in
// users, identifies with traits, and pages of anonymous visitors.
func appMessages(clientNow time.Time) []analytics.Message {
	var msgs []analytics.Message
	for i := range 30 {
		msgs = append(msgs, analytics.Track{MessageId: fmt.Sprintf("trk-%02d", i), UserId: fmt.Sprintf("cus_%06d", i%5),
			Event: "Video Playback Started", Timestamp: clientNow.Add(-5 * time.Minute),
			Properties: analytics.NewProperties().Set("minutes", i).Set("title", "The Crown")})
	}
	for i := range 10 {
		msgs = append(msgs, analytics.Identify{MessageId: fmt.Sprintf("idn-%02d", i), UserId: fmt.Sprintf("cus_%06d", i),
			Traits: analytics.NewTraits().Set("plan", "premium").SetEmail(fmt.Sprintf("u%d@example.com", i))})
	}
	for i := range 10 {
		msgs = append(msgs, analytics.Page{MessageId: fmt.Sprintf("pg-%02d", i), AnonymousId: fmt.Sprintf("anon-%02d", i),
			Name: "Home", Properties: analytics.NewProperties().SetPath("/browse")})
	}
	return msgs
}

// send enqueues msgs on analytics-go pointed at endpoint and waits until it
// reports every one sent (it retries failed requests with the same body).
func send(t *testing.T, endpoint string, msgs []analytics.Message) {
	t.Helper()
	var d delivered
	client, err := analytics.NewWithConfig(writeKey, analytics.Config{
		Endpoint: endpoint, Interval: 50 * time.Millisecond, BatchSize: 20, Callback: &d, Logger: testLog{t},
		RetryAfter: func(int) time.Duration { return 20 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for int(d.ok.Load()+d.failed.Load()) < len(msgs) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// Closing while a retry waits would drop its batch: close once all are sent.
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if d.ok.Load() != int32(len(msgs)) || d.failed.Load() != 0 {
		t.Fatalf("analytics-go sent %d and gave up on %d of %d messages", d.ok.Load(), d.failed.Load(), len(msgs))
	}
}

// The real client apps use: tracks, identifies and pages arrive once each,
// mapped by the defaults, their times corrected for the client's clock (here
// ten days off the receiver's), also when the receiver is cut off
// mid-request and the client sends the batch again.
func TestAnalyticsGoClient(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cut         int32
		afterCommit bool
	}{
		{"every request answered", 0, false},
		{"the first two requests cut after the commit", 2, true},
		{"the first two requests cut before the receiver saw them", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, st := segmentReceiver(t, sqliteDSN(t), appSource(v1alpha1.EventMapping{}), nil, func() time.Time { return now })
			tl := &tally{h: h, cut: tc.cut, afterCommit: tc.afterCommit}
			srv := httptest.NewServer(tl)
			defer srv.Close()
			msgs := appMessages(time.Now())
			send(t, srv.URL+"/segment", msgs)

			if tl.accepted != int64(len(msgs)) {
				t.Errorf("the receiver accepted %d messages (and counted %d duplicates), want each of %d once", tl.accepted, tl.duplicate, len(msgs))
			}
			if tc.afterCommit && tl.duplicate == 0 {
				t.Errorf("the batches cut after their commit came again and were not counted as duplicates")
			}
			events := stored(t, st, "media/app-events")
			if len(events) != len(msgs) {
				t.Fatalf("stored %d events, want %d", len(events), len(msgs))
			}
			trk := events["trk-07"]
			if trk.UserID != "cus_000002" || trk.Type != "Video Playback Started" || trk.Touchpoint != "app" ||
				trk.Attributes["minutes"] != 7.0 || trk.Attributes["title"] != "The Crown" {
				t.Errorf("track mapped to %+v", trk)
			}
			// Sent five minutes after it happened by the client's clock:
			// five minutes before the receiver got it by the receiver's.
			if d := now.Sub(trk.OccurredAt); d < 5*time.Minute || d > 5*time.Minute+5*time.Second {
				t.Errorf("track occurredAt %s, want about 5m before the receiver's %s", trk.OccurredAt, now)
			}
			idn := events["idn-03"]
			if idn.UserID != "cus_000003" || idn.Type != "identify" || idn.Attributes["plan"] != "premium" || idn.Attributes["email"] != "u3@example.com" {
				t.Errorf("identify mapped to %+v", idn)
			}
			page := events["pg-04"]
			if page.UserID != "anon-04" || page.Type != "page" || page.Attributes["path"] != "/browse" {
				t.Errorf("page mapped to %+v", page)
			}
			if d := now.Sub(page.OccurredAt); d < 0 || d > 5*time.Second {
				t.Errorf("page occurredAt %s, want about the receiver's %s", page.OccurredAt, now)
			}
		})
	}
}

// A mapping given for a Segment source replaces the defaults field by field
// and attribute by attribute; the rest stay.
func TestSegmentMappingOverrides(t *testing.T) {
	mapping := v1alpha1.EventMapping{
		Type: `"app." + (record.type == "track" ? record.event : record.type)`,
		Attributes: map[string]v1alpha1.Expression{
			"library": "record.context.library.name", // from the batch's context
			"title":   "record.properties.title + ' (S1)'",
		},
	}
	h, st := segmentReceiver(t, sqliteDSN(t), appSource(mapping), nil, func() time.Time { return now })
	srv := httptest.NewServer(h)
	defer srv.Close()
	send(t, srv.URL+"/segment", appMessages(time.Now())[:1])
	got := stored(t, st, "media/app-events")["trk-00"]
	if got.Type != "app.Video Playback Started" || got.UserID != "cus_000000" {
		t.Errorf("type and user %q %q", got.Type, got.UserID)
	}
	want := map[string]any{"minutes": 0.0, "title": "The Crown (S1)", "library": "analytics-go"}
	if fmt.Sprint(got.Attributes) != fmt.Sprint(want) {
		t.Errorf("attributes %v, want %v", got.Attributes, want)
	}
}

// segmentPost sends body to a call (or "batch") with the Authorization
// header auth (none if ""), and further headers as name, value pairs.
func segmentPost(t *testing.T, srv *httptest.Server, call string, body []byte, auth string, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/segment/v1/"+call, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	status, text := do(t, req)
	return status, strings.TrimSpace(text)
}

func basic(key string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":")) }

func batchOf(msgs ...string) []byte {
	return []byte(`{"batch":[` + strings.Join(msgs, ",") + `],"sentAt":"2026-11-23T12:00:00Z"}`)
}

const okTrack = `{"type":"track","messageId":"m-ok","userId":"cus_000001","event":"Signed Up","timestamp":"2026-11-23T11:59:00Z"}`

// Every bad request gets a clear answer: 400 naming what is wrong, 401 for
// a write key that is missing or not the source's, and nothing is stored.
func TestSegmentBadRequests(t *testing.T) {
	h, st := segmentReceiver(t, sqliteDSN(t), appSource(v1alpha1.EventMapping{}), nil, func() time.Time { return now })
	srv := httptest.NewServer(h)
	defer srv.Close()
	big := strings.Repeat("x", 33<<10)
	many := make([]string, 2501)
	for i := range many {
		many[i] = "{}"
	}
	huge := make([]string, 20)
	for i := range huge {
		huge[i] = fmt.Sprintf(`{"type":"track","messageId":"m%d","userId":"u","event":"e","properties":{"pad":%q}}`, i, strings.Repeat("y", 30<<10))
	}
	for _, tc := range []struct {
		name, call string
		body       string
		auth       string
		status     int
		want       string
	}{
		{"no write key", "batch", string(batchOf(okTrack)), "", 401, "no write key: send the source's write key as the HTTP Basic username or as writeKey in the body"},
		{"another write key (Basic)", "batch", string(batchOf(okTrack)), basic("wk_other"), 401, "the write key in the Authorization header is not this source's"},
		{"another write key (body)", "track", `{"writeKey":"wk_other","messageId":"m1","userId":"u","event":"e"}`, "", 401, "the write key in the body is not this source's"},
		{"not JSON, without a key", "batch", `hello`, "", 401, "no write key"},
		{"not JSON", "batch", `hello`, basic(writeKey), 400, `the body is not a Segment batch, {"batch": [messages...]}`},
		{"an array, not a batch", "batch", `[` + okTrack + `]`, basic(writeKey), 400, "the body is not a Segment batch"},
		{"JSON followed by more", "batch", string(batchOf(okTrack)) + `{}`, basic(writeKey), 400, "data after the JSON value"},
		{"no batch", "batch", okTrack, basic(writeKey), 400, "the body has no batch: /v1/batch takes"},
		{"batch not an array", "batch", `{"batch":"track"}`, basic(writeKey), 400, "batch must be an array of messages"},
		{"context not an object", "batch", `{"batch":[],"context":"web"}`, basic(writeKey), 400, "context must be an object"},
		{"a message that is not an object", "batch", string(batchOf(`"track"`)), basic(writeKey), 400, "batch[0] is not a JSON object"},
		{"a message over 32 KB", "batch", string(batchOf(okTrack, `{"type":"track","pad":"`+big+`"}`)), basic(writeKey), 400,
			"batch[1] is 33817 bytes, larger than 32768, Segment's limit for one message"},
		{"a batch over 500 KB", "batch", string(batchOf(huge...)), basic(writeKey), 400, "the body is larger than 512000 bytes, Segment's limit for a batch"},
		{"a call over 32 KB", "track", `{"messageId":"m1","userId":"u","event":"e","pad":"` + big + `"}`, basic(writeKey), 400,
			"the body is larger than 32768 bytes, Segment's limit for one message"},
		{"more than 2,500 messages", "batch", string(batchOf(many...)), basic(writeKey), 400, "the batch holds 2501 messages; Segment's limit is 2500"},
		{"a message without a type", "batch", string(batchOf(`{"messageId":"m1","userId":"u"}`)), basic(writeKey), 400,
			`batch[0] (messageId "m1"): type is required in a batch: one of track, identify, page, screen, group, alias`},
		{"an unknown type", "batch", string(batchOf(okTrack, `{"type":"purchase","messageId":"m2","userId":"u"}`)), basic(writeKey), 400,
			`batch[1] (messageId "m2"): type "purchase" is not one of track, identify, page, screen, group, alias`},
		{"no messageId", "batch", string(batchOf(`{"type":"identify","userId":"u"}`)), basic(writeKey), 400,
			"batch[0]: messageId is required (a non-empty string): it is what makes a retried message count once"},
		{"neither userId nor anonymousId", "identify", `{"messageId":"m1","traits":{"plan":"basic"}}`, basic(writeKey), 400, "userId or anonymousId is required"},
		{"an empty userId and no anonymousId", "page", `{"messageId":"m1","userId":""}`, basic(writeKey), 400, "userId or anonymousId is required"},
		{"a userId that is a number", "identify", `{"messageId":"m1","userId":42}`, basic(writeKey), 400, "userId must be a string"},
		{"a track without event", "track", `{"messageId":"m1","userId":"u"}`, basic(writeKey), 400,
			"a track call needs event (a non-empty string): the name of what the user did"},
		{"a group without groupId", "group", `{"messageId":"m1","userId":"u"}`, basic(writeKey), 400, "a group call needs groupId"},
		{"an alias without previousId", "alias", `{"messageId":"m1","userId":"u"}`, basic(writeKey), 400, "an alias call needs previousId"},
		{"properties that are not an object", "screen", `{"messageId":"m1","userId":"u","properties":["a"]}`, basic(writeKey), 400, "properties must be an object"},
		{"a timestamp in words", "track", `{"messageId":"m1","userId":"u","event":"e","timestamp":"yesterday"}`, basic(writeKey), 400,
			`timestamp "yesterday" is not an ISO 8601 time such as 2026-12-03T14:55:00.000Z`},
		{"a timestamp that is a number", "track", `{"messageId":"m1","userId":"u","event":"e","timestamp":1764772500}`, basic(writeKey), 400,
			"timestamp must be an ISO 8601 time in a string"},
		{"a batch sentAt in words", "batch", `{"batch":[` + okTrack + `],"sentAt":"now"}`, basic(writeKey), 400,
			`batch[0] (messageId "m-ok"): the batch's sentAt "now" is not an ISO 8601 time`},
		{"a call whose type is another call's", "track", `{"type":"identify","messageId":"m1","userId":"u"}`, basic(writeKey), 400,
			`type is "identify" but the call is track: send it to /v1/identify, or in a batch`},
		{"a call that is not an object", "page", `["page"]`, basic(writeKey), 400, "the body is not a JSON object: /v1/page takes one message"},
	} {
		status, text := segmentPost(t, srv, tc.call, []byte(tc.body), tc.auth)
		if status != tc.status || !strings.Contains(text, tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, status, text, tc.status, tc.want)
		}
		if strings.Contains(text, writeKey) {
			t.Errorf("%s: the write key leaked into the response", tc.name)
		}
	}
	if got := stored(t, st, "media/app-events"); len(got) != 0 {
		t.Errorf("refused requests stored %d events", len(got))
	}
	for method, path := range map[string]string{http.MethodGet: "/segment/v1/batch", http.MethodPost: "/segment/v1/purchase"} {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if status, _ := do(t, req); status != map[string]int{http.MethodGet: 405, http.MethodPost: 404}[method] {
			t.Errorf("%s %s: %d", method, path, status)
		}
	}
}

// Each call has its route; the write key is taken as Segment's clients send
// it (Basic "KEY:", Basic "KEY" from older clients, writeKey in the body);
// messageId deduplicates within a batch and across requests.
func TestSegmentCalls(t *testing.T) {
	h, st := segmentReceiver(t, sqliteDSN(t), appSource(v1alpha1.EventMapping{}), nil, func() time.Time { return now })
	srv := httptest.NewServer(h)
	defer srv.Close()
	oldBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte(writeKey))
	for _, tc := range []struct {
		call, body, auth string
		want             receiver.SegmentResponse
	}{
		{"track", `{"messageId":"c-track","userId":"cus_1","event":"Trial Started","properties":{"plan":"basic"}}`, basic(writeKey),
			receiver.SegmentResponse{Success: true, Accepted: 1}},
		{"identify", `{"messageId":"c-identify","userId":"cus_1","traits":{"country":"DE"},"writeKey":"` + writeKey + `"}`, "",
			receiver.SegmentResponse{Success: true, Accepted: 1}},
		{"page", `{"messageId":"c-page","anonymousId":"anon-1","name":"Pricing"}`, oldBasic, receiver.SegmentResponse{Success: true, Accepted: 1}},
		{"screen", `{"type":"screen","messageId":"c-screen","userId":"cus_1","name":"Player"}`, basic(writeKey), receiver.SegmentResponse{Success: true, Accepted: 1}},
		{"group", `{"messageId":"c-group","userId":"cus_1","groupId":"family-7","traits":{"seats":4}}`, basic(writeKey), receiver.SegmentResponse{Success: true, Accepted: 1}},
		{"alias", `{"messageId":"c-alias","userId":"cus_1","previousId":"anon-1"}`, basic(writeKey), receiver.SegmentResponse{Success: true, Accepted: 1}},
		{"track", `{"messageId":"c-track","userId":"cus_1","event":"Trial Started"}`, basic(writeKey), receiver.SegmentResponse{Success: true, Duplicates: 1}},
		{"batch", string(batchOf(okTrack, okTrack, `{"type":"page","messageId":"c-page","anonymousId":"anon-1"}`)), basic(writeKey),
			receiver.SegmentResponse{Success: true, Accepted: 1, Duplicates: 2}},
		{"batch", `{"batch":[]}`, basic(writeKey), receiver.SegmentResponse{Success: true}},
	} {
		status, text := segmentPost(t, srv, tc.call, []byte(tc.body), tc.auth)
		var got receiver.SegmentResponse
		_ = json.Unmarshal([]byte(text), &got)
		if status != 200 || got != tc.want {
			t.Errorf("%s %s: %d %s, want 200 %+v", tc.call, tc.body, status, text, tc.want)
		}
	}
	events := stored(t, st, "media/app-events")
	for id, want := range map[string]string{"c-track": "Trial Started", "c-identify": "identify", "c-page": "page", "c-screen": "screen",
		"c-group": "group", "c-alias": "alias", "m-ok": "Signed Up"} {
		if events[id].Type != want {
			t.Errorf("%s: type %q, want %q", id, events[id].Type, want)
		}
	}
	if len(events) != 7 {
		t.Errorf("stored %d events, want 7", len(events))
	}

	// Bodies may come gzipped; the limits apply to what they hold.
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(batchOf(`{"type":"track","messageId":"c-gzip","userId":"cus_2","event":"Searched"}`))
	_ = zw.Close()
	for _, tc := range []struct {
		body     []byte
		encoding string
		status   int
		want     string
	}{
		{zipped.Bytes(), "gzip", 200, `"accepted":1`},
		{batchOf(okTrack), "gzip", 400, "the body is not gzip, as its Content-Encoding says"},
		{zipped.Bytes(), "br", 400, `Content-Encoding "br" is not supported: send the body as it is, or gzip`},
	} {
		status, text := segmentPost(t, srv, "batch", tc.body, basic(writeKey), "Content-Encoding", tc.encoding)
		if status != tc.status || !strings.Contains(text, tc.want) {
			t.Errorf("Content-Encoding %s: %d %s, want %d with %q", tc.encoding, status, text, tc.status, tc.want)
		}
	}
	if a := events["c-group"].Attributes; a["seats"] != 4.0 {
		t.Errorf("group traits %v", a)
	}
	if at := events["m-ok"].OccurredAt; !at.Equal(now.Add(-time.Minute)) {
		t.Errorf("m-ok occurredAt %s: sent a minute after it happened, by the client's clock", at)
	}
}

// A message held in quarantine is held once, though a retry reaches the
// receiver later (another receivedAt, so another corrected timestamp).
func TestSegmentRetryOfAHeldMessage(t *testing.T) {
	rule := v1alpha1.ValidationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "app-controls"},
		Spec: v1alpha1.ValidationRuleSpec{Checks: []v1alpha1.Check{{Name: "known-plan",
			AcceptedValues: &v1alpha1.AcceptedValuesCheck{Key: "event.attributes.plan", Values: []string{"basic", "premium"}}}}}}
	clock := now
	h, st := segmentReceiver(t, sqliteDSN(t), appSource(v1alpha1.EventMapping{}), []v1alpha1.ValidationRule{rule}, func() time.Time { return clock })
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := batchOf(`{"type":"track","messageId":"q-1","userId":"cus_1","event":"Plan Chosen","properties":{"plan":"platinum"},"timestamp":"2026-11-23T11:59:00Z"}`)
	for i, want := range []receiver.SegmentResponse{{Success: true, Quarantined: 1}, {Success: true, Duplicates: 1}} {
		clock = now.Add(time.Duration(i) * time.Minute)
		status, text := segmentPost(t, srv, "batch", body, basic(writeKey))
		var got receiver.SegmentResponse
		_ = json.Unmarshal([]byte(text), &got)
		if status != 200 || got != want {
			t.Errorf("delivery %d: %d %s, want %+v", i+1, status, text, want)
		}
	}
	held, err := st.FindQuarantine(context.Background(), store.QuarantineFilter{Source: "media/app-events"})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 {
		t.Fatalf("held %d records, want 1", len(held))
	}
	if raw := string(held[0].Raw); strings.Contains(raw, "receivedAt") || !strings.Contains(raw, `"plan":"platinum"`) {
		t.Errorf("held record %s: want the message as sent", raw)
	}
}
