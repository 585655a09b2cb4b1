package matchapp_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testlog"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// TestLogAndDashboardAllDialects: predictions served through the app land in
// each real database verbatim and show on the dashboard escaped.
func TestLogAndDashboardAllDialects(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			l := predlogtest.OpenFresh(t, d)
			w := predlog.NewWriter(l, predlog.WriterOptions{})
			app := newApp(t, matchapp.Config{Recorder: w, Usage: l, Now: time.Now})
			for _, body := range []string{
				`{"home":"Argentina","away":"France"}`,
				`{"home":"Argentina","away":"Japan","neutral":false}`,
				`{"home":"Côte d'Ivoire \"B\"","away":"<script>alert(1)</script>","client_time":"2026-11-23T10:00:00Z"}`,
			} {
				if r := postJSON(t, app, body); r.Code != 200 {
					t.Fatalf("%s: %d %s", body, r.Code, r.Body)
				}
			}
			postJSON(t, app, `{"home":"Atlantis","away":"France"}`) // not logged
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			es, err := l.Recent(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 3 || es[0].Home != quotedTeam || es[0].Away != scriptTeam || es[0].ClientTime.IsZero() ||
				es[1].Neutral || es[2].Outcome != matchwinner.Draw || es[2].ModelVersion != "test-0001" {
				t.Fatalf("logged %+v", es)
			}
			page := do(t, app, "GET", "/dashboard", "", nil).Body.String()
			for _, want := range []string{
				`<p id="total">3 predictions logged.`, "<svg", "Most requested teams",
				"&lt;script&gt;alert(1)&lt;/script&gt;", "Côte d&#39;Ivoire &#34;B&#34;", "<td>Argentina</td><td>France</td><td>Draw</td>",
			} {
				if !strings.Contains(page, want) {
					t.Errorf("dashboard lacks %q", want)
				}
			}
			if strings.Contains(page, "<script>") {
				t.Error("dashboard contains an unescaped <script>")
			}
			// The page names the version serving; the static report has no
			// server, and otherwise equals the page: rendering is
			// deterministic.
			if !strings.Contains(page, `<p id="serving">Serving model version <code>test-0001</code> since `) {
				t.Error("dashboard does not show the serving version")
			}
			db, err := matchapp.LoadDashboard(context.Background(), l)
			if err != nil {
				t.Fatal(err)
			}
			serving := app.Serving()
			db.Serving = &serving
			out := filepath.Join(t.TempDir(), "usage.html")
			if err := db.WriteFile(out); err != nil {
				t.Fatal(err)
			}
			file, _ := os.ReadFile(out)
			if string(file) != page {
				t.Error("usage report file differs from /dashboard")
			}
		})
	}
}

func TestDashboardEmptyAndNoLog(t *testing.T) {
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	app := newApp(t, matchapp.Config{Usage: l})
	r := do(t, app, "GET", "/dashboard", "", nil)
	if r.Code != 200 || !strings.Contains(r.Body.String(), "0 predictions logged") || strings.Contains(r.Body.String(), "<svg") {
		t.Errorf("empty dashboard: %d %s", r.Code, r.Body)
	}
	if r := do(t, newApp(t, matchapp.Config{}), "GET", "/dashboard", "", nil); r.Code != 503 {
		t.Errorf("dashboard without a log: %d", r.Code)
	}
}

// TestDatabaseOutage: with PostgreSQL unreachable mid-run, predictions are
// still served, the failed writes show in /metrics, and the buffered entries
// are written once the database is back.
func TestDatabaseOutage(t *testing.T) {
	dsn := sqldbtest.DSN(t, sqldb.Postgres)
	viaProxy, px := sqldbtest.ViaProxy(t, sqldb.Postgres, dsn)
	l := predlogtest.Open(t, sqldb.Postgres, viaProxy, sqldbtest.Prefix(t))
	// The rows are checked through a direct connection, not the proxy.
	direct, err := predlog.Open(context.Background(), dsn, predlog.WithTablePrefix(strings.TrimSuffix(l.Table(), "match_predictions")))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()

	var logBuf testlog.Buffer
	w := predlog.NewWriter(l, predlog.WriterOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		WriteTimeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	defer w.Close(context.Background())
	app := newApp(t, matchapp.Config{Recorder: w, Usage: l, Now: time.Now})
	predict := func(n int) {
		t.Helper()
		for range n {
			if r := postJSON(t, app, `{"home":"Brazil","away":"Germany"}`); r.Code != 200 {
				t.Fatalf("prediction not served: %d %s", r.Code, r.Body)
			}
		}
	}
	predict(5)
	testwait.Until(t, 20*time.Second, 10*time.Millisecond, "5 predictions written to the log", func() bool { return w.Stats().Written == 5 })

	px.SetDown(true)
	start := time.Now()
	predict(20)
	if d := time.Since(start); d > time.Second {
		t.Errorf("20 predictions took %v with the database down", d)
	}
	testwait.Until(t, 20*time.Second, 10*time.Millisecond, "2 failed log writes counted", func() bool { return metricValue(t, app, "datalab_predlog_write_failures_total") >= 2 })
	if p := metricValue(t, app, "datalab_predlog_pending"); p != 20 {
		t.Errorf("pending = %v while down, want 20", p)
	}
	if r := do(t, app, "GET", "/healthz", "", nil); r.Code != 200 || !strings.Contains(r.Body.String(), `"pending":20`) {
		t.Errorf("healthz while down: %d %s", r.Code, r.Body)
	}

	px.SetDown(false)
	testwait.Until(t, 20*time.Second, 10*time.Millisecond, "25 predictions written to the log", func() bool { return w.Stats().Written == 25 })
	if v := metricValue(t, app, "datalab_predlog_pending"); v != 0 {
		t.Errorf("pending after recovery = %v", v)
	}
	if v := metricValue(t, app, "datalab_predlog_dropped_total"); v != 0 {
		t.Errorf("dropped = %v", v)
	}
	if n, err := direct.Count(context.Background()); err != nil || n != 25 {
		t.Errorf("rows in PostgreSQL = %d, %v; want 25", n, err)
	}
	logs := logBuf.String()
	if !strings.Contains(logs, "prediction log write failed") || !strings.Contains(logs, "prediction log writes recovered") {
		t.Errorf("writer log:\n%s", logs)
	}
	if strings.Contains(logs, "postgres:postgres@") || strings.Contains(logs, "password=postgres") {
		t.Errorf("writer log leaks the password:\n%s", logs)
	}
}

func TestFetchModel(t *testing.T) {
	src := t.TempDir()
	for name, body := range map[string]string{"manifest.json": `{"v":1}`, "spark/metadata/part-00000": "meta", "lookup.json": "{}"} {
		p := filepath.Join(src, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cache := t.TempDir()
	ctx := context.Background()
	var loadedFrom string
	load := func(dir string) (matchwinner.Predictor, error) {
		loadedFrom = dir
		b, err := os.ReadFile(filepath.Join(dir, "spark", "metadata", "part-00000"))
		if err != nil || string(b) != "meta" {
			return nil, errors.New("model files not copied")
		}
		return newTablePredictor(), nil
	}
	for _, loc := range []string{"file://" + src, src} {
		p, err := matchapp.LoadModel(ctx, loc, cache, load)
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		if p.Version() != "test-0001" {
			t.Errorf("version %q", p.Version())
		}
		if strings.HasPrefix(loc, "file://") == (loadedFrom == src) {
			t.Errorf("%s loaded from %s", loc, loadedFrom)
		}
	}
	// Loading again replaces the cached copy (the URL may hold a newer model).
	os.WriteFile(filepath.Join(src, "manifest.json"), []byte(`{"v":2}`), 0o644)
	dir, err := matchapp.FetchModel(ctx, "file://"+src, cache)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "manifest.json")); string(b) != `{"v":2}` {
		t.Errorf("cache not refreshed: %s", b)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (no leftover downloads)", len(entries))
	}
	for _, bad := range []string{"file://" + t.TempDir(), filepath.Join(src, "nope"), filepath.Join(src, "manifest.json"), ""} {
		if _, err := matchapp.FetchModel(ctx, bad, cache); err == nil {
			t.Errorf("FetchModel(%q): no error", bad)
		}
	}
	if _, err := matchapp.LoadModel(ctx, src, cache, func(string) (matchwinner.Predictor, error) { return nil, errors.New("corrupt") }); err == nil ||
		!strings.Contains(err.Error(), "corrupt") {
		t.Errorf("loader error not reported: %v", err)
	}
}
