// Package browser drives Debian's chromium headless with chromedp, for the
// tests that click through the journey map page. A test without the
// browser fails, naming hack/chromium.sh, which installs it: it never
// skips. Only tests import this package.
package browser

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is Debian's chromium package, which hack/chromium.sh installs.
const Chromium = "/usr/bin/chromium"

// Width and Height are the window's size.
const (
	Width  = 1280
	Height = 900
)

// stepTimeout bounds a step: an action and what it waits for. It is a
// deadline for a hung browser, not a measure of speed.
const stepTimeout = 60 * time.Second

// Tab is a test's browser tab.
type Tab struct {
	ctx        context.Context
	mu         sync.Mutex
	exceptions []string
}

// Start starts the browser with one tab, closed when the test ends.
func Start(t testing.TB) *Tab {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("%s is missing (%v): this test clicks through the page in a real browser; run hack/chromium.sh, which installs Debian's chromium package", Chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium),
		chromedp.NoSandbox, // as root in a container there is no sandbox to drop into
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), // a container's /dev/shm is small
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(Width, Height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })

	// The first action starts the browser and ties it to the context it
	// gets, which must outlive the test's steps: the start's deadline is
	// kept here instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", Chromium, err)
		}
	case <-time.After(stepTimeout):
		cancel()
		t.Fatalf("%s did not start within %v", Chromium, stepTimeout)
	}
	tab := &Tab{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() {
				tab.mu.Lock()
				tab.exceptions = append(tab.exceptions, m.String())
				tab.mu.Unlock()
			}
		}
	}()
	return tab
}

// Do runs actions as one step; the test fails with the step's name.
func (b *Tab) Do(t testing.TB, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// Eval evaluates a JavaScript expression in the page, decoded as a T.
func Eval[T any](t testing.TB, b *Tab, expression string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expression, err)
	}
	return v
}

// Exceptions are the uncaught exceptions the tab's pages threw.
func (b *Tab) Exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.exceptions...)
}

// Screenshot writes a PNG of the whole page.
func (b *Tab) Screenshot(t testing.TB, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ScreenshotWindow writes a PNG of the window made height pixels tall, so
// that what is fixed to it (a side panel) shows whole; the window is then
// as it was.
func (b *Tab) ScreenshotWindow(t testing.TB, path string, height int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(Width, max(height, Height))); err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = chromedp.Do(ctx, chromedp.ResetViewport())
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
