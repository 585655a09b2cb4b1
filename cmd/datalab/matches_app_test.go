package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testlog"
	"github.com/datalabhq/datalab/internal/testnet"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
)

// twoTeams is a matchwinner.Predictor knowing two teams, for exercising the
// serve command's wiring without training a model.
type twoTeams struct{}

func (twoTeams) Predict(ctx context.Context, r matchwinner.Request) (matchwinner.Prediction, error) {
	for _, t := range []string{r.Home, r.Away} {
		if t != "Ghana" && t != "Uruguay" {
			return matchwinner.Prediction{}, fmt.Errorf("%w: %q", matchwinner.ErrUnknownTeam, t)
		}
	}
	return matchwinner.Prediction{Outcome: matchwinner.Draw, Probability: 0.5, ModelVersion: "v1", Variant: "3class",
		Probabilities: map[matchwinner.Outcome]float64{matchwinner.HomeWin: 0.25, matchwinner.Draw: 0.5, matchwinner.AwayWin: 0.25}}, nil
}
func (twoTeams) Teams() []string         { return []string{"Ghana", "Uruguay"} }
func (twoTeams) WorldCupTeams() []string { return []string{"Ghana", "Uruguay"} }
func (twoTeams) Version() string         { return "v1" }

func loadTwoTeams(string) (matchwinner.Predictor, error) { return twoTeams{}, nil }

// TestServeGracefulShutdown: predictions answered just before SIGTERM (here:
// context cancellation, which main wires to SIGTERM) are all in the log.
func TestServeGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "log.sqlite")
	var logs testlog.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	o := serveOptions{model: dir, db: db, addr: "127.0.0.1:0", logBuffer: 100, shutdownTimeout: 10 * time.Second}
	go func() { done <- runServe(ctx, o, loadTwoTeams, slog.New(slog.NewTextHandler(&logs, nil)), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	const n = 50
	for range n {
		resp, err := http.Post("http://"+addr+"/api/v1/matches/predict", "application/json", strings.NewReader(`{"home":"Ghana","away":"Uruguay"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l, err := predlog.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if c, err := l.Count(context.Background()); err != nil || c != n {
		t.Errorf("log holds %d predictions, %v; want %d", c, err, n)
	}
	if !strings.Contains(logs.String(), `msg="prediction log flushed" written=50 dropped=0`) {
		t.Errorf("shutdown log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "msg=request method=POST path=/api/v1/matches/predict status=200") {
		t.Errorf("no request log lines:\n%s", logs.String())
	}

	// datalab report usage renders the same dashboard to a file.
	out := filepath.Join(dir, "reports", "usage.html")
	var stdout bytes.Buffer
	rootCmd.SetOut(&stdout)
	rootCmd.SetArgs([]string{"report", "usage", "--log-level", "warn", "--db", db, "--out", out})
	if err := rootCmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "50 predictions logged") || !strings.Contains(string(page), "<td>Ghana</td><td>Uruguay</td><td class=\"num\">50</td>") {
		t.Errorf("usage report:\n%s", page)
	}
	if strings.TrimSpace(stdout.String()) != out {
		t.Errorf("stdout %q", stdout.String())
	}
}

// TestServeRedactsDSN: the database password appears neither in the logs nor
// in the errors, whether the connection works or not.
func TestServeRedactsDSN(t *testing.T) {
	dsn := os.Getenv("DATALAB_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("DATALAB_TEST_POSTGRES is not set (make test sets it; .ci/setup starts PostgreSQL)")
		}
		t.Skip("DATALAB_TEST_POSTGRES is not set")
	}
	// A schema of its own keeps the unprefixed tables serve creates apart.
	admin, err := sql.Open("pgx", dsn) // driver registered by predlog
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("serve_redact_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	defer admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	good := dsn + sep + "search_path=" + schema
	pass := "postgres:postgres@" // the password of the loopback test server
	wrong := strings.Replace(good, pass, "postgres:Wr0ngS3cret@", 1)
	if wrong == good {
		t.Fatalf("test DSN does not hold %q", pass)
	}
	for _, c := range []struct{ dsn, secret string }{{good, pass}, {wrong, "Wr0ngS3cret"}} {
		var logs testlog.Buffer
		o := serveOptions{model: filepath.Join(t.TempDir(), "missing-model"), db: c.dsn, addr: "127.0.0.1:0", shutdownTimeout: time.Second}
		err := runServe(context.Background(), o, loadTwoTeams, slog.New(slog.NewTextHandler(&logs, nil)), nil)
		if err == nil {
			t.Fatal("serve started without a model")
		}
		if strings.Contains(err.Error(), c.secret) || strings.Contains(logs.String(), c.secret) {
			t.Errorf("password leaked:\nerr: %v\nlogs: %s", err, logs.String())
		}
		if c.dsn == good && !strings.Contains(logs.String(), "postgres:xxxxx@") {
			t.Errorf("redacted DSN not logged:\n%s", logs.String())
		}
	}
}

// startServe runs `datalab serve` with o in process, on the two-team
// model, until stop is called; addr is "" when the start failed, and stop
// then returns why.
func startServe(o serveOptions) (addr string, stop func() error) {
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
		return startServe(o)
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
