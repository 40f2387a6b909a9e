package segment_test

import (
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/segment"
)

var received = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// Segment's correction for the client's clock: timestamp = receivedAt -
// (sentAt - timestamp as sent), the timestamp as sent kept in
// originalTimestamp.
func TestTimestampCorrection(t *testing.T) {
	for _, tc := range []struct {
		name                string
		msg                 map[string]any
		batchSentAt         any
		timestamp, original string
		sentAt              string
		keepsNoOriginal     bool
	}{
		{name: "a clock an hour behind, sentAt in the message",
			msg:       map[string]any{"timestamp": "2026-11-23T10:59:30Z", "sentAt": "2026-11-23T11:00:00Z"},
			timestamp: "2026-11-23T11:59:30Z", original: "2026-11-23T10:59:30Z", sentAt: "2026-11-23T11:00:00Z"},
		{name: "sentAt of the batch, with an offset and milliseconds",
			msg:         map[string]any{"timestamp": "2026-11-23T14:59:58.250+02:00"},
			batchSentAt: "2026-11-23T15:00:00+02:00",
			timestamp:   "2026-11-23T11:59:58.25Z", original: "2026-11-23T12:59:58.25Z", sentAt: "2026-11-23T13:00:00Z"},
		{name: "the message's sentAt wins over the batch's",
			msg:         map[string]any{"timestamp": "2026-11-23T11:00:00Z", "sentAt": "2026-11-23T11:00:10Z"},
			batchSentAt: "2026-11-23T11:30:00Z",
			timestamp:   "2026-11-23T11:59:50Z", original: "2026-11-23T11:00:00Z", sentAt: "2026-11-23T11:00:10Z"},
		{name: "no sentAt: the timestamp as sent (an import of history)",
			msg:       map[string]any{"timestamp": "2025-01-01T00:00:00Z"},
			timestamp: "2025-01-01T00:00:00Z", original: "2025-01-01T00:00:00Z"},
		{name: "originalTimestamp when there is no timestamp",
			msg:       map[string]any{"originalTimestamp": "2026-11-23T11:58:00Z", "sentAt": "2026-11-23T11:59:00Z"},
			timestamp: "2026-11-23T11:59:00Z", original: "2026-11-23T11:58:00Z", sentAt: "2026-11-23T11:59:00Z"},
		{name: "no timestamp at all: when it was received",
			msg:         map[string]any{},
			batchSentAt: "2026-11-23T11:00:00Z",
			timestamp:   "2026-11-23T12:00:00Z", sentAt: "2026-11-23T11:00:00Z", keepsNoOriginal: true},
	} {
		msg := map[string]any{"type": "track", "event": "Played", "messageId": "m1", "userId": "cus_1"}
		for k, v := range tc.msg {
			msg[k] = v
		}
		if err := segment.Prepare(msg, "", segment.Envelope{SentAt: tc.batchSentAt}, received); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if msg["timestamp"] != tc.timestamp || msg["receivedAt"] != "2026-11-23T12:00:00Z" {
			t.Errorf("%s: timestamp %v receivedAt %v, want %s", tc.name, msg["timestamp"], msg["receivedAt"], tc.timestamp)
		}
		if got, ok := msg["originalTimestamp"]; tc.keepsNoOriginal == ok || (ok && got != tc.original) {
			t.Errorf("%s: originalTimestamp %v, want %q", tc.name, got, tc.original)
		}
		if got, _ := msg["sentAt"].(string); got != tc.sentAt {
			t.Errorf("%s: sentAt %q, want %q", tc.name, got, tc.sentAt)
		}
	}
}

// Prepare gives a message the call's type, drops an empty or null userId
// (so the mapping takes anonymousId) and fills in the batch's context.
func TestPrepare(t *testing.T) {
	msg := map[string]any{"messageId": "m1", "userId": nil, "anonymousId": "anon-1", "name": "Home",
		"context": map[string]any{"locale": "de-DE"}}
	env := segment.Envelope{Context: map[string]any{"locale": "en-US", "library": map[string]any{"name": "analytics.js"}}}
	if err := segment.Prepare(msg, "page", env, received); err != nil {
		t.Fatal(err)
	}
	if _, ok := msg["userId"]; ok || msg["type"] != "page" {
		t.Errorf("userId %v type %v", msg["userId"], msg["type"])
	}
	ctx := msg["context"].(map[string]any)
	if ctx["locale"] != "de-DE" || ctx["library"] == nil {
		t.Errorf("context %v: the message's own fields win, the batch's fill in", ctx)
	}
}

// A Segment source's mapping has defaults for what it leaves out; what it
// gives stays.
func TestMappingDefaults(t *testing.T) {
	m := segment.Mapping(v1alpha1.EventMapping{Type: `"app." + record.type`, Amount: "record.properties.revenue"})
	want := v1alpha1.EventMapping{EventID: segment.DefaultEventID, UserID: segment.DefaultUserID, OccurredAt: segment.DefaultOccurredAt,
		Type: `"app." + record.type`, Amount: "record.properties.revenue"}
	if m.EventID != want.EventID || m.UserID != want.UserID || m.OccurredAt != want.OccurredAt || m.Type != want.Type || m.Amount != want.Amount {
		t.Errorf("mapping %+v, want %+v", m, want)
	}
	spec := v1alpha1.TouchpointSourceSpec{Webhook: &v1alpha1.WebhookSource{Path: "/s"}}
	if segment.Source(&spec) {
		t.Error("a webhook without a protocol speaks JSON, not Segment")
	}
	spec.Webhook.Protocol = v1alpha1.WebhookProtocolSegment
	if !segment.Source(&spec) {
		t.Error("protocol Segment")
	}
}
