// Package segment is Segment's HTTP Tracking API as a journey source speaks
// it: the calls and what each message must carry, the size limits, the
// correction of a message's timestamp for the client's clock, and the
// default mapping of a Segment source's messages to journey events. It
// knows nothing of HTTP; the receiver serves it.
package segment

import (
	"fmt"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// Limits of Segment's HTTP Tracking API: a message may be 32 KB, alone or in
// a batch; a batch request 500 KB and 2,500 messages. Segment's own clients
// keep under them (analytics-go: 32,000 and 500,000 bytes).
const (
	MaxMessageBytes  = 32 << 10
	MaxBatchBytes    = 500 << 10
	MaxBatchMessages = 2500
)

// Calls are the message types, each served alone at /v1/<call>.
var Calls = []string{"track", "identify", "page", "screen", "group", "alias"}

// IsCall reports whether s names a call.
func IsCall(s string) bool {
	for _, c := range Calls {
		if s == c {
			return true
		}
	}
	return false
}

// Source reports whether a source speaks Segment's protocol.
func Source(spec *v1alpha1.TouchpointSourceSpec) bool {
	return spec.Webhook != nil && spec.Webhook.Protocol == v1alpha1.WebhookProtocolSegment
}

// The default mapping, CEL over a message as Prepare leaves it: userId is
// there only when it is a non-empty string, and timestamp always is.
const (
	DefaultEventID    v1alpha1.Expression = "record.messageId"
	DefaultUserID     v1alpha1.Expression = "has(record.userId) ? record.userId : record.anonymousId"
	DefaultOccurredAt v1alpha1.Expression = "record.timestamp"
	DefaultType       v1alpha1.Expression = `record.type == "track" ? record.event : record.type`
)

// AttributesFrom are the message fields whose entries become the event's
// attributes by default: a track's, page's or screen's properties, an
// identify's or group's traits.
var AttributesFrom = []string{"properties", "traits"}

// Mapping returns m with each required field it leaves empty set to its
// default. Attributes are not defaults of this kind: the pipeline takes
// them from AttributesFrom, and those m names win.
func Mapping(m v1alpha1.EventMapping) v1alpha1.EventMapping {
	for _, f := range []struct {
		dst *v1alpha1.Expression
		def v1alpha1.Expression
	}{{&m.EventID, DefaultEventID}, {&m.UserID, DefaultUserID}, {&m.OccurredAt, DefaultOccurredAt}, {&m.Type, DefaultType}} {
		if *f.dst == "" {
			*f.dst = f.def
		}
	}
	return m
}

// Envelope is what a batch request carries beside its messages, for each
// of them: when the client sent it, and a context shared by all.
type Envelope struct {
	SentAt  any
	Context map[string]any
}

// Prepare checks one decoded message as Segment's spec requires it and
// readies it for the mapping: its type is the call (call "" takes the
// message's own, as in a batch), the batch's context fills in what the
// message's lacks, and its timestamp is corrected for the client's clock
// as Segment corrects it,
//
//	timestamp = receivedAt - (sentAt - timestamp as sent)
//
// keeping the timestamp as sent in originalTimestamp (a message without one
// happened when it was received; one without sentAt keeps its timestamp).
// The error says what is wrong with the message, naming the field.
func Prepare(msg map[string]any, call string, env Envelope, receivedAt time.Time) error {
	typ, _ := msg["type"].(string)
	switch {
	case call != "" && typ != "" && typ != call:
		return fmt.Errorf("type is %q but the call is %s: send it to /v1/%s, or in a batch", typ, call, typ)
	case call != "":
		typ = call
	case typ == "":
		return fmt.Errorf("type is required in a batch: one of %s", strings.Join(Calls, ", "))
	case !IsCall(typ):
		return fmt.Errorf("type %q is not one of %s", typ, strings.Join(Calls, ", "))
	}
	msg["type"] = typ
	if id, _ := msg["messageId"].(string); id == "" {
		return fmt.Errorf("messageId is required (a non-empty string): it is what makes a retried message count once")
	}
	for _, k := range []string{"userId", "anonymousId"} {
		switch v := msg[k].(type) {
		case nil:
			delete(msg, k)
		case string:
			if v == "" {
				delete(msg, k)
			}
		default:
			return fmt.Errorf("%s must be a string", k)
		}
	}
	if msg["userId"] == nil && msg["anonymousId"] == nil {
		return fmt.Errorf("userId or anonymousId is required")
	}
	for _, need := range required[typ] {
		if s, _ := msg[need.field].(string); s == "" {
			return fmt.Errorf("%s %s call needs %s (a non-empty string): %s", article(typ), typ, need.field, need.why)
		}
	}
	for _, k := range []string{"properties", "traits", "context"} {
		if v, ok := msg[k]; ok && v != nil {
			if _, isMap := v.(map[string]any); !isMap {
				return fmt.Errorf("%s must be an object", k)
			}
		}
	}
	mergeContext(msg, env.Context)
	return correctTimestamp(msg, env.SentAt, receivedAt)
}

// required are the fields a call needs beyond its identity.
var required = map[string][]struct{ field, why string }{
	"track": {{"event", "the name of what the user did, e.g. Video Playback Started"}},
	"group": {{"groupId", "the group the user joins"}},
	"alias": {{"previousId", "the identity the user had before"}},
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// mergeContext gives the message the batch context's fields it lacks.
func mergeContext(msg map[string]any, shared map[string]any) {
	if len(shared) == 0 {
		return
	}
	own, _ := msg["context"].(map[string]any)
	if own == nil {
		own = make(map[string]any, len(shared))
		msg["context"] = own
	}
	for k, v := range shared {
		if _, ok := own[k]; !ok {
			own[k] = v
		}
	}
}

func correctTimestamp(msg map[string]any, batchSentAt any, receivedAt time.Time) error {
	sent, hasSent, err := timeField(msg, "sentAt")
	if err != nil {
		return err
	}
	if !hasSent && batchSentAt != nil {
		if sent, hasSent, err = parseTime("sentAt", batchSentAt); err != nil {
			return fmt.Errorf("the batch's %v", err)
		}
	}
	orig, hasOrig, err := timeField(msg, "timestamp")
	if err != nil {
		return err
	}
	if !hasOrig {
		if orig, hasOrig, err = timeField(msg, "originalTimestamp"); err != nil {
			return err
		}
	}
	at := receivedAt
	switch {
	case hasOrig && hasSent:
		at = receivedAt.Add(-sent.Sub(orig))
	case hasOrig:
		at = orig
	}
	if hasOrig {
		msg["originalTimestamp"] = format(orig)
	}
	if hasSent {
		msg["sentAt"] = format(sent)
	}
	msg["receivedAt"] = format(receivedAt)
	msg["timestamp"] = format(at)
	return nil
}

func timeField(msg map[string]any, name string) (time.Time, bool, error) {
	return parseTime(name, msg[name])
}

// parseTime reads an ISO 8601 time as Segment's clients write it (RFC 3339,
// with or without fractional seconds); null or absent is no time.
func parseTime(name string, v any) (time.Time, bool, error) {
	switch s := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case string:
		if s == "" {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("%s %q is not an ISO 8601 time such as 2026-12-03T14:55:00.000Z", name, s)
		}
		return t, true, nil
	}
	return time.Time{}, false, fmt.Errorf("%s must be an ISO 8601 time in a string, such as 2026-12-03T14:55:00.000Z", name)
}

func format(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
