// Package browsertest starts Debian's headless Chromium for tests that must
// see a page as a person would (chromedp drives it over the DevTools
// protocol). Without a browser the test is skipped locally and fails under CI
// (CI=true), where .ci/setup installs one.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser is a running headless Chromium tab.
type Browser struct {
	Ctx context.Context

	mu            sync.Mutex
	consoleErrors []string
}

// ConsoleErrors returns the console.error calls and uncaught exceptions the
// page produced so far.
func (b *Browser) ConsoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.consoleErrors...)
}

// executable finds Chromium (CHROMIUM_PATH overrides).
func executable() string {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a fresh browser with an empty profile for the duration of the
// test; every call gets its own process. timeout bounds the whole session.
func New(t testing.TB, timeout time.Duration) *Browser {
	t.Helper()
	exe := executable()
	if exe == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium on PATH: .ci/setup installs Debian's chromium package")
		}
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	b := &Browser{}
	listener := func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError {
				return
			}
			for _, a := range ev.Args {
				msg += string(a.Value) + " "
			}
		case *runtime.EventExceptionThrown:
			msg = ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		default:
			return
		}
		b.mu.Lock()
		b.consoleErrors = append(b.consoleErrors, msg)
		b.mu.Unlock()
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithListener(listener))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	b.Ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return b
}

// Do executes chromedp actions that return nothing (navigate, click, wait),
// failing the test on error.
func (b *Browser) Do(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.Ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// Get runs one chromedp action that returns a value (text, attribute, …),
// failing the test on error.
func Get[T any](t testing.TB, b *Browser, action chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b.Ctx, action)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// Screenshot captures the full page as PNG and writes it to path when path
// is not empty (for a person to look at; tests assert on the DOM).
func (b *Browser) Screenshot(t testing.TB, path string) []byte {
	t.Helper()
	png := Get(t, b, chromedp.FullScreenshot(100)) // quality 100 = PNG
	if path != "" {
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return png
}
