// Command client is what the end-to-end test runs in a pod to reach the
// cluster's Services from inside: a GET, or a POST signed as Stripe signs
// its webhooks.
//
//	client get URL
//	client stripe URL BODY   (the signing secret in $STRIPE_SECRET)
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: client get URL | client stripe URL BODY")
	}
	var req *http.Request
	var err error
	switch args[0] {
	case "get":
		req, err = http.NewRequest(http.MethodGet, args[1], nil)
	case "stripe":
		if len(args) != 3 {
			return fmt.Errorf("usage: client stripe URL BODY")
		}
		body := args[2]
		req, err = http.NewRequest(http.MethodPost, args[1], strings.NewReader(body))
		if err == nil {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			mac := hmac.New(sha256.New, []byte(os.Getenv("STRIPE_SECRET")))
			mac.Write([]byte(ts + "." + body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
		}
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	// A Service's endpoints can lag the pod's readiness by a moment.
	var resp *http.Response
	for try := 0; ; try++ {
		if resp, err = client.Do(req); err == nil || try == 10 {
			break
		}
		time.Sleep(time.Second)
		if req.GetBody != nil {
			req.Body, _ = req.GetBody()
		}
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d\n%s\n", resp.StatusCode, b)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", req.Method, req.URL, resp.Status)
	}
	return nil
}
