package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testnet"
)

func getStatus(t *testing.T, url string, header ...string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeDashboardFlags: --dashboard-addr moves /dashboard off the app's
// listener onto its own, --dashboard-token guards it there, "off" removes
// it, and a taken dashboard address fails the start.
func TestServeDashboardFlags(t *testing.T) {
	start := func(t *testing.T, o serveOptions) (string, func() error) {
		t.Helper()
		dir := t.TempDir()
		o.model, o.db, o.addr, o.logBuffer, o.shutdownTimeout = dir, filepath.Join(dir, "log.sqlite"), "127.0.0.1:0", 10, 5*time.Second
		ctx, cancel := context.WithCancel(context.Background())
		ready, done := make(chan string, 1), make(chan error, 1)
		go func() { done <- runServe(ctx, o, loadTwoTeams, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
		select {
		case addr := <-ready:
			return addr, func() error { cancel(); return <-done }
		case err := <-done:
			cancel()
			return "", func() error { return err }
		}
	}

	dashAddr := testnet.FreeAddr(t)
	addr, stop := start(t, serveOptions{dashboardAddr: dashAddr, dashboardToken: "tok-123"})
	if addr == "" {
		t.Fatal(stop())
	}
	if c := getStatus(t, "http://"+addr+"/dashboard"); c != http.StatusNotFound {
		t.Errorf("app listener /dashboard: %d, want 404", c)
	}
	if c := getStatus(t, "http://"+dashAddr+"/dashboard"); c != http.StatusUnauthorized {
		t.Errorf("dashboard listener without token: %d, want 401", c)
	}
	if c := getStatus(t, "http://"+dashAddr+"/dashboard", "Authorization", "Bearer tok-123"); c != http.StatusOK {
		t.Errorf("dashboard listener with token: %d, want 200", c)
	}
	if c := getStatus(t, "http://"+dashAddr+"/api/v1/matches/teams"); c != http.StatusNotFound {
		t.Errorf("dashboard listener serves the API: %d", c)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Stopped with the app.
	if conn, err := net.Dial("tcp", dashAddr); err == nil {
		conn.Close()
		t.Error("dashboard listener still open after shutdown")
	}

	addr, stop = start(t, serveOptions{dashboardAddr: "off"})
	if addr == "" {
		t.Fatal(stop())
	}
	if c := getStatus(t, "http://"+addr+"/dashboard"); c != http.StatusNotFound {
		t.Errorf("--dashboard-addr off: /dashboard %d, want 404", c)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if addr, stop := start(t, serveOptions{dashboardAddr: taken.Addr().String()}); addr != "" {
		stop()
		t.Error("started with the dashboard address taken")
	} else if err := stop(); err == nil || !strings.Contains(err.Error(), "--dashboard-addr") {
		t.Errorf("taken dashboard address: %v", err)
	}
}
