package webclient_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/webclient"
)

func TestBackoffStaysUnderItsDoublingCeiling(t *testing.T) {
	for n := 1; n <= 10; n++ {
		ceiling := min(500*time.Millisecond<<(n-1), 30*time.Second)
		for i := 0; i < 200; i++ {
			if d := webclient.Backoff(500*time.Millisecond, 30*time.Second, n); d < 0 || d > ceiling {
				t.Fatalf("attempt %d: waited %s, ceiling %s", n, d, ceiling)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "7": 7 * time.Second, "3600": time.Minute, "soon": 0,
		now.Add(20 * time.Second).Format(http.TimeFormat): 20 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := webclient.RetryAfter(v, now, time.Minute); got != want {
			t.Errorf("RetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestRedactAndPrintable(t *testing.T) {
	u, _ := url.Parse("https://user:s3cret@api.example.internal/v1/events?api_key=k#frag")
	if got := webclient.Redact(u); got != "https://user:xxxxx@api.example.internal/v1/events" {
		t.Errorf("Redact = %q", got)
	}
	if got := webclient.Printable([]byte("line one\n\tline\x00two \xff")); got != "line one line two \uFFFD" {
		t.Errorf("Printable = %q", got)
	}
}
