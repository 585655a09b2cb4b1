package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowserSeesPageAndConsoleErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>t</title><h1 id="h">hello</h1><script>console.error("boom")</script>`))
	}))
	defer srv.Close()
	b := New(t, 60*time.Second)
	b.Do(t, chromedp.Navigate(srv.URL))
	text := Get(t, b, chromedp.Text("#h"))
	if text != "hello" {
		t.Fatalf("heading = %q", text)
	}
	if png := b.Screenshot(t, ""); len(png) < 1000 {
		t.Fatalf("screenshot is %d bytes", len(png))
	}
	if errs := b.ConsoleErrors(); len(errs) != 1 {
		t.Fatalf("console errors = %q, want the one boom", errs)
	}
}

func TestScreenshotIsPNG(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!doctype html><p>png`))
	}))
	defer srv.Close()
	b := New(t, 60*time.Second)
	b.Do(t, chromedp.Navigate(srv.URL))
	if png := b.Screenshot(t, ""); string(png[:8]) != "\x89PNG\r\n\x1a\n" {
		t.Fatalf("screenshot starts %q, want the PNG signature", png[:8])
	}
}
