package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/drill"
)

// drillPaths are what a manager clicks on, as API requests.
var drillPaths = []string{
	"/api/v1/journey",
	"/api/v1/journey?segment=plan%3Dbasic",
	"/api/v1/journey?segment=plan%3Dbasic&segment=country%3DUS",
	"/api/v1/stages/Engaged?limit=50",
	"/api/v1/stages/Engaged?limit=50&offset=5000",
	"/api/v1/flows/Trial/Subscribed?outcome=dropped",
	"/api/v1/users/u0000042",
	"/api/v1/trends",
	"/api/v1/revenue",
	"/api/v1/kpis",
}

// benchDrill times reading every user's segments and revenue anew, then
// each drill-down request (the median of three), against the SQL query's
// time measured in the same run.
func benchDrill(ctx context.Context, x *drill.Index, sqlTime time.Duration) (string, error) {
	var b strings.Builder
	start := time.Now()
	if err := x.Refresh(ctx, nil); err != nil {
		return "", err
	}
	refresh := time.Since(start)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(&b, "  drill-down: reading every user's segments and revenue %6.1fs (heap after %d MiB, peak RSS %d MiB)\n",
		refresh.Seconds(), ms.HeapAlloc>>20, peakRSS()>>20)
	h := x.Handler()
	var worst time.Duration
	for _, p := range drillPaths {
		var times []time.Duration
		for range 3 {
			rec := httptest.NewRecorder()
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, p, nil)
			start := time.Now()
			h.ServeHTTP(rec, req)
			times = append(times, time.Since(start))
			if rec.Code != http.StatusOK {
				return "", fmt.Errorf("GET %s: %d %s", p, rec.Code, rec.Body.String())
			}
		}
		slices.Sort(times)
		worst = max(worst, times[1])
		fmt.Fprintf(&b, "    GET %-58s %7.3fs  (%.3f of the SQL query)\n", p, times[1].Seconds(), times[1].Seconds()/sqlTime.Seconds())
	}
	fmt.Fprintf(&b, "  drill-down: slowest request %.3fs (aim: under 1 s), %.3f of the SQL query\n", worst.Seconds(), worst.Seconds()/sqlTime.Seconds())
	return b.String(), nil
}
