package connector

import (
	"reflect"
	"strings"
	"testing"
)

var fastJSONCases = []string{
	`{}`, `[]`, `{"a":1}`, ` {"a" : [1, 2.5, -0, 1e3, 1E-2, -12.0, 0.5] } `,
	`{"id":"evt_1","type":"invoice.paid","created":1756684800,"livemode":true,"data":{"object":{"customer":"cus_000001","amount_paid":1999,"currency":"usd","payment_intent":"pi_1"}}}`,
	`{"a":null,"b":false,"c":true,"d":"","e":{},"f":[]}`,
	`{"a":1,"a":2}`, `{"n":9223372036854775807}`, `{"n":9223372036854775808}`, `{"n":-9223372036854775808}`,
	`{"n":-9223372036854775809}`, `{"n":123456789012345678}`, `{"n":1e400}`, `{"n":-1e400}`, `{"n":01}`, `{"n":1.}`,
	`{"n":.5}`, `{"n":-}`, `{"n":+1}`, `{"n":1e}`, `{"n":1e+}`, `{"n":0x10}`, `{"n":NaN}`,
	`{"s":"caf\u00e9 \n\t\"\\\/ \b\f\r"}`, `{"s":"\ud83d\ude00"}`, `{"s":"\ud83d"}`, `{"s":"\udc00x"}`, `{"s":"\u12"}`, `{"s":"\x"}`,
	"{\"s\":\"caf\xc3\xa9\"}", "{\"s\":\"bad \xff byte\"}", "{\"s\":\"bad \xff\\n escaped\"}", "{\"s\":\"tab\there\"}",
	"{\"s\":\"nul\x00\"}", `{"s":"\u0000"}`, `{"s":"unterminated}`, `{"a":1,}`, `{"a":1 "b":2}`, `{"a"}`, `{"a":}`, `{a:1}`,
	`[1,2,]`, `[1 2]`, `{"a":[{"b":[{"c":null}]}]}`, `{} {}`, `{}x`, `{}  `, ``, `   `, `nul`, `tru`, `"str"`, `42`, `null`,
	"\ufeff{}", `{"a":1}]`, strings.Repeat("[", 300) + strings.Repeat("]", 300),
	`{"` + strings.Repeat("k", 100) + `":"v"}`,
}

// TestFastDecodeAgreesWithEncodingJSON: where fastDecode decodes a value,
// encoding/json decodes the very same; it declines only what it must.
func TestFastDecodeAgreesWithEncodingJSON(t *testing.T) {
	declined := 0
	for _, in := range fastJSONCases {
		if !agree(t, []byte(in)) {
			declined++
		}
	}
	// The common cases must take the fast path.
	for _, in := range fastJSONCases[:5] {
		if _, ok := fastDecode([]byte(in), nil); !ok {
			t.Errorf("fastDecode declines %s", in)
		}
	}
	if declined == 0 || declined == len(fastJSONCases) {
		t.Errorf("fastDecode declined %d of %d cases", declined, len(fastJSONCases))
	}
}

// agree checks fastDecode against slowDecodeJSON on in; it reports whether
// fastDecode decoded it.
func agree(t *testing.T, in []byte) bool {
	t.Helper()
	keys := map[string]string{}
	fast, ok := fastDecode(in, keys)
	slow, err := slowDecodeJSON(in)
	if !ok {
		return false
	}
	if err != nil {
		t.Errorf("fastDecode decodes %q, encoding/json refuses it: %v", in, err)
		return true
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Errorf("%q: fastDecode gives %#v, encoding/json %#v", in, fast, slow)
	}
	// Interned keys give the same again.
	if again, _ := fastDecode(in, keys); !reflect.DeepEqual(again, slow) {
		t.Errorf("%q with interned keys: %#v", in, again)
	}
	return true
}

func FuzzFastDecode(f *testing.F) {
	for _, in := range fastJSONCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) { agree(t, in) })
}
