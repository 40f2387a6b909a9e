package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator, the same for `journey receive` and the plain
// handler: clients goroutines over keep-alive connections send the
// deliveries, each taking the next until all are sent, and each delivery
// must be answered 200 (anything else stops the run).

const (
	stripeSecret = "whsec_bench_current"
	writeKey     = "bench-write-key"
	customers    = 10_000
)

// delivery is one request: its path's body and headers.
type delivery struct {
	body   []byte
	header http.Header
}

// stripeDeliveries are n signed Stripe invoice.paid events, their IDs
// unique to round, signed now (the receivers accept 5 minutes of skew).
func stripeDeliveries(round, n int) []delivery {
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	out := make([]delivery, n)
	for i := range out {
		c := i % customers
		body := fmt.Appendf(nil, `{"id":"evt_r%d_%08d","object":"event","api_version":"2024-06-20","type":"invoice.paid","created":%d,"livemode":true,`+
			`"data":{"object":{"id":"in_r%d_%08d","object":"invoice","customer":"cus_%06d","amount_paid":%d,"currency":"usd",`+
			`"payment_intent":"pi_r%d_%08d","status":"paid","lines":{"data":[{"plan":{"id":"%s"}}]}}}}`,
			round, i, now.Add(-time.Minute).Unix(), round, i, c, 999+100*(i%7), round, i, []string{"basic", "standard", "premium"}[c%3])
		mac := hmac.New(sha256.New, []byte(stripeSecret))
		mac.Write([]byte(ts))
		mac.Write([]byte("."))
		mac.Write(body)
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
		out[i] = delivery{body: body, header: h}
	}
	return out
}

// segmentDeliveries are n /v1/batch bodies of size track messages each,
// as analytics-go sends them (write key as HTTP Basic username).
func segmentDeliveries(round, n, size int) []delivery {
	now := time.Now().UTC()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(writeKey+":"))
	events := []string{"Video Playback Started", "Video Playback Completed", "Product Viewed", "Signed In"}
	devices := []string{"tv", "ios", "android", "web"}
	out := make([]delivery, n)
	var b bytes.Buffer
	for i := range out {
		b.Reset()
		sent := now.Add(-time.Second).Format(time.RFC3339Nano)
		b.WriteString(`{"batch":[`)
		for j := range size {
			k := i*size + j
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"track","messageId":"r%d-%09d","userId":"cus_%06d","event":%q,`+
				`"properties":{"minutes":%d,"title":"title-%d"},"context":{"device":{"type":%q},"library":{"name":"analytics-go","version":"3.3.0"}},`+
				`"timestamp":%q}`,
				round, k, k%customers, events[k%len(events)], k%90, k%500, devices[k%len(devices)], now.Add(-2*time.Second).Format(time.RFC3339Nano))
		}
		fmt.Fprintf(&b, `],"sentAt":%q,"context":{"library":{"name":"analytics-go","version":"3.3.0"}}}`, sent)
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Authorization", auth)
		out[i] = delivery{body: bytes.Clone(b.Bytes()), header: h}
	}
	return out
}

// send posts every delivery to url from clients goroutines and returns
// how long it took.
func send(url string, clients int, ds []delivery) (time.Duration, error) {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: time.Minute}
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ds) {
					return
				}
				if err := post(cl, url, ds[i]); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(len(ds))) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), first
}

func post(cl *http.Client, url string, d delivery) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	req.Header = d.header.Clone()
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}
