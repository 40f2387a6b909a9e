package dashboard

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	_ "image/png" // registers the decoder
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

var update = flag.Bool("update", false, "write the browser's screenshot of the streaming journey to testdata/journey-map.png")

// chromium is Debian's chromium package, which hack/chromium.sh installs
// (.ci/run calls it).
const chromium = "/usr/bin/chromium"

// TestBrowser serves the page as the evaluator does and has a real browser
// draw it: the screenshot must show the flow, and the DOM the browser built
// must hold one node per stage and one ribbon per transition.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (%v): this test draws the page in a real browser; run hack/chromium.sh, which installs Debian's chromium package", chromium, err)
	}
	snap := streamingSnapshot()
	srv := httptest.NewServer(Handler(func() journey.Snapshot { return snap }))
	defer srv.Close()
	url := srv.URL + "/"

	shot := filepath.Join(t.TempDir(), "journey-map.png")
	if *update {
		shot = filepath.Join("testdata", "journey-map.png")
	}
	// Two browser starts, side by side: each takes a couple of seconds.
	var wg sync.WaitGroup
	var dom []byte
	var shotErr, domErr error
	wg.Go(func() { _, shotErr = runChromium(t, "--screenshot="+shot, url) })
	wg.Go(func() { dom, domErr = runChromium(t, "--dump-dom", url) })
	wg.Wait()
	if shotErr != nil {
		t.Fatalf("screenshot: %v", shotErr)
	}
	if domErr != nil {
		t.Fatalf("dump-dom: %v", domErr)
	}

	t.Run("screenshot", func(t *testing.T) {
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("the browser wrote no screenshot: %v", err)
		}
		defer f.Close()
		img, format, err := image.Decode(f)
		if err != nil {
			t.Fatalf("the screenshot does not decode: %v", err)
		}
		if format != "png" {
			t.Fatalf("the screenshot is %s, want png", format)
		}
		if b := img.Bounds(); b.Dx() != 1280 {
			t.Fatalf("the screenshot is %dx%d, want 1280 wide", b.Dx(), b.Dy())
		}
		// The flow comes right under the 64-pixel header; these rows are
		// inside its SVG whatever the fonts.
		flow := image.Rect(0, 120, 1280, 470).Intersect(img.Bounds())
		colours, inked := map[[3]uint32]bool{}, 0
		for y := flow.Min.Y; y < flow.Max.Y; y++ {
			for x := flow.Min.X; x < flow.Max.X; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				c := [3]uint32{r >> 8, g >> 8, b >> 8}
				colours[c] = true
				if c[0] < 235 || c[1] < 235 || c[2] < 235 {
					inked++
				}
			}
		}
		if len(colours) < 50 || inked < flow.Dx()*flow.Dy()/20 {
			t.Errorf("the flow looks blank: %d colours, %d of %d pixels not white in %v", len(colours), inked, flow.Dx()*flow.Dy(), flow)
		}
		// Every stage's "users now" bar is painted in its colour.
		want := map[string]string{}
		for _, n := range layoutSankey(snap.Stages, snap.Transitions, snap.Users).Nodes {
			want[n.Name] = n.Color
		}
		for name, hex := range want {
			var r, g, b uint32
			fmt.Sscanf(hex, "#%02x%02x%02x", &r, &g, &b)
			found := 0
			for y := flow.Min.Y; y < flow.Max.Y; y++ {
				for x := flow.Min.X; x < flow.Max.X; x++ {
					pr, pg, pb, _ := img.At(x, y).RGBA()
					if near(pr>>8, r) && near(pg>>8, g) && near(pb>>8, b) {
						found++
					}
				}
			}
			if found < 10 {
				t.Errorf("stage %s: %d pixels of its colour %s in the flow, want its node", name, found, hex)
			}
		}
	})

	t.Run("dom", func(t *testing.T) {
		html := string(dom)
		if !strings.Contains(html, `<svg class="sankey"`) {
			t.Fatalf("the browser's DOM has no flow SVG:\n%s", head(html))
		}
		nodes := regexp.MustCompile(`<g class="node" data-stage="([^"]*)"`).FindAllStringSubmatch(html, -1)
		if len(nodes) != len(snap.Stages) {
			t.Errorf("%d stage nodes in the DOM, want %d", len(nodes), len(snap.Stages))
		}
		for i, n := range nodes {
			if i < len(snap.Stages) && n[1] != snap.Stages[i].Name {
				t.Errorf("node %d is %q, want %q", i, n[1], snap.Stages[i].Name)
			}
		}
		links := regexp.MustCompile(`<path class="link [a-z]+" data-from="([^"]*)" data-to="([^"]*)"`).FindAllStringSubmatch(html, -1)
		if len(links) != len(snap.Transitions) {
			t.Errorf("%d transition ribbons in the DOM, want %d", len(links), len(snap.Transitions))
		}
		got := map[string]bool{}
		for _, l := range links {
			got[l[1]+"→"+l[2]] = true
		}
		for _, tr := range snap.Transitions {
			if !got[tr.From+"→"+tr.To] {
				t.Errorf("no ribbon for %q → %q", tr.From, tr.To)
			}
		}
		if n := strings.Count(html, `class="alert firing"`); n != 2 {
			t.Errorf("%d firing alerts highlighted, want 2", n)
		}
	})
}

func near(a, b uint32) bool { return a+4 >= b && b+4 >= a }

func head(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// runChromium runs headless Chromium once, with a profile of its own and
// everything that would reach the network switched off.
func runChromium(t *testing.T, args ...string) ([]byte, error) {
	profile, err := os.MkdirTemp("", "dashboard-chromium-")
	if err != nil {
		return nil, err
	}
	// Best effort: a browser helper may still be writing to it on exit.
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir=" + profile, "--window-size=1280,900",
	}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v after %v\n%s", chromium, strings.Join(args, " "), err, time.Since(start).Round(time.Millisecond), tail(stderr.String()))
	}
	t.Logf("%s %s: %v", chromium, args[0], time.Since(start).Round(time.Millisecond))
	return stdout.Bytes(), nil
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
