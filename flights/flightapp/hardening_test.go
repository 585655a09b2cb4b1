package flightapp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/flights/flightapp"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/flighttest"
	"github.com/datalabhq/datalab/internal/testlog"
	"github.com/datalabhq/datalab/pipeline/serve"
	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestInternalErrorsStayInTheLog is issue 12's finding 4: with the
// prediction store's database unreachable, the flight app answered
// anonymous users with the driver's error (`failed to connect to user=…
// database=…: host:port`). Every 5xx body must now be generic, carry the
// request id, and the detail must be in the server log under that id. The
// store is a real PostgreSQL / MariaDB behind a relay the test cuts.
func TestInternalErrorsStayInTheLog(t *testing.T) {
	sc, dist := flighttest.Fixtures(t)
	for _, d := range []sqldb.Dialect{sqldb.Postgres, sqldb.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			direct := sqldbtest.DSN(t, d)
			sqldbtest.Reachable(t, d, direct)
			dsn, px := sqldbtest.ViaProxy(t, d, direct)
			prefix := sqldbtest.Prefix(t)
			ctx := context.Background()
			st, err := sqlstore.Open(ctx, dsn, sqlstore.WithTablePrefix(prefix))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				st.Close()
				clean, err := sqlstore.Open(ctx, direct, sqlstore.WithTablePrefix(prefix))
				if err != nil {
					t.Error(err)
					return
				}
				defer clean.Close()
				for _, table := range []string{prefix + sqlstore.Table, prefix + sqlstore.MigrationsTable} {
					if _, err := clean.DB().ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
						t.Errorf("drop %s: %v", table, err)
					}
				}
			})
			logs := &testlog.Buffer{}
			s, err := flightapp.StartStack(ctx, flightapp.StackConfig{EmbeddedAddr: "127.0.0.1:0", Scorer: sc, Distances: dist,
				Store: st, NoPredictor: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			srv := newServer(t, s.App)
			code, body := postForm(t, srv.URL, seedForm())
			if code != 200 {
				t.Fatalf("with the database up: %d %v", code, body)
			}
			id := body["id"].(string)

			px.Close() // the server is gone: connections are refused
			secrets := []string{px.Addr(), "user=", "database=", "datalab_test", "dial", "connect", "postgres", "datalab:"}
			for _, c := range []struct{ name, method, path, body string }{
				{"classify", "POST", "/flights/delays/predict/classify_realtime", seedForm().Encode()},
				{"response", "GET", "/flights/delays/predict/classify_realtime/response/" + id, ""},
				{"healthz", "GET", "/healthz", ""},
			} {
				req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
				if c.body != "" {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				text := string(raw)
				if resp.StatusCode < 500 {
					t.Errorf("%s: %d %s with the database down, want a 5xx", c.name, resp.StatusCode, text)
					continue
				}
				for _, s := range secrets {
					if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
						t.Errorf("%s: %d body names %q: %s", c.name, resp.StatusCode, s, text)
					}
				}
				rid := resp.Header.Get(serve.RequestIDHeader)
				if rid == "" || !strings.Contains(text, rid) || !strings.Contains(text, "see the server log") {
					t.Errorf("%s: body %s lacks the request id %q or where to look", c.name, text, rid)
				}
				// The detail is in the log, under the same request id.
				var logged bool
				for line := range strings.SplitSeq(logs.String(), "\n") {
					logged = logged || strings.Contains(line, "request_id="+rid) && strings.Contains(line, "level=ERROR") &&
						strings.Contains(line, "err=")
				}
				if rid != "" && !logged {
					t.Errorf("%s: no ERROR line with request_id=%s and the error in the log:\n%s", c.name, rid, logs)
				}
			}
			// The first failure can be a pooled connection's EOF; the later
			// ones name the address that refused — in the log only.
			if !strings.Contains(logs.String(), px.Addr()) {
				t.Errorf("the log never names the unreachable address %s:\n%s", px.Addr(), logs)
			}
		})
	}
}

// TestStrictJSON is finding 8's "accepts trailing garbage after its JSON":
// the body must hold exactly one JSON object with known fields; anything
// after it is a 400 with a message, and nothing is scored or issued.
func TestStrictJSON(t *testing.T) {
	s := startStack(t, false)
	valid := `{"DepDelay":5,"Carrier":"AA","FlightDate":"2016-12-25","Origin":"ATL","Dest":"SFO"}`
	for _, c := range []struct{ name, path, body, text string }{
		{"trailing garbage", "/api/v1/flights/predict", valid + ` garbage`, "single JSON object"},
		{"two objects", "/api/v1/flights/predict", valid + valid, "single JSON object"},
		{"trailing bracket", "/api/v1/flights/predict", valid + `]`, "single JSON object"},
		{"classify trailing garbage", "/flights/delays/predict/classify_realtime", valid + `x`, "single JSON object"},
		{"unknown field", "/flights/delays/predict/classify_realtime", `{"DepDelay":5,"carrier":"AA"}`, `unknown field "carrier"`},
		{"not an object", "/api/v1/flights/predict", `"AA"`, "not a JSON object"},
		{"empty", "/api/v1/flights/predict", ``, "empty body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(s.srv.URL+c.path, "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			code, body := decode(t, resp)
			if code != 400 || body["status"] != "ERROR" || !strings.Contains(fmt.Sprint(body["error"]), c.text) {
				t.Fatalf("%d %v; want 400 saying %q", code, body, c.text)
			}
		})
	}
	if n := issued(t, s); n != 0 {
		t.Fatalf("%d ids issued for rejected bodies", n)
	}
}

// issued counts the ids in the store, answered or not (Count leaves out
// pending ones).
func issued(t *testing.T, s *testStack) int {
	t.Helper()
	var n int
	if err := s.store.DB().QueryRow("SELECT COUNT(*) FROM " + s.store.Table()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkSecurityHeaders is the header set both apps send on every answer.
func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
		"Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %s", what, csp, want)
		}
	}
	if h.Get(serve.RequestIDHeader) == "" {
		t.Errorf("%s: no %s", what, serve.RequestIDHeader)
	}
}

// TestSecurityHeaders is finding 8's "the flight app sends no security
// headers": the page, the JSON answers and a 404 carry the same set as the
// match app's, and the page's CSP allows exactly its own inline script.
func TestSecurityHeaders(t *testing.T) {
	s := startStack(t, false)
	for _, path := range []string{"/flights/delays/predict_kafka", "/healthz", "/metrics", "/nowhere",
		"/flights/delays/predict/classify_realtime/response/not-an-id"} {
		resp, err := http.Get(s.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		checkSecurityHeaders(t, path, resp.Header)
	}
	resp, err := http.Get(s.srv.URL + "/flights/delays/predict_kafka")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("the page's CSP %q does not allow its script and its fetches", csp)
	}
}

// TestCrossSitePostsRefused: a browser POST from another site (Sec-Fetch-Site,
// or an Origin that is not the Host) is refused with 403 and a message, and
// nothing is issued; the app's own page, and clients that send neither
// header (curl, scripts), are served.
func TestCrossSitePostsRefused(t *testing.T) {
	s := startStack(t, false)
	host := strings.TrimPrefix(s.srv.URL, "http://")
	for _, c := range []struct {
		name   string
		header map[string]string
		code   int
	}{
		{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"same-site", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.localhost"}, 403},
		{"old browser, foreign origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"null origin", map[string]string{"Origin": "null"}, 403},
		{"same-origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}, 200},
		{"old browser, own origin", map[string]string{"Origin": "http://" + host}, 200},
		{"curl", nil, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/flights/delays/predict/classify_realtime", "/api/v1/flights/predict"} {
				req, _ := http.NewRequest("POST", s.srv.URL+path, strings.NewReader(seedForm().Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range c.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				code, body := decode(t, resp)
				if code != c.code {
					t.Errorf("%s: %d %v, want %d", path, code, body, c.code)
				}
				if code == 403 && (body["status"] != "ERROR" || !strings.Contains(fmt.Sprint(body["error"]), "cross-site")) {
					t.Errorf("%s: refusal %v does not say why", path, body)
				}
			}
		})
	}
	// Only the allowed classify POSTs issued ids: same-origin, own origin, curl.
	if n := issued(t, s); n != 3 {
		t.Errorf("%d ids issued, want 3 (the refused requests must issue none)", n)
	}
}
