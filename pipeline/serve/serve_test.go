package serve_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/datalabhq/datalab/internal/testlog"
	"github.com/datalabhq/datalab/pipeline/serve"
)

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Home string `json:"home"`
		N    int    `json:"n"`
	}
	for _, c := range []struct {
		name, in string
		status   int
		msg      string
	}{
		{"ok", `{"home":"A","n":1}`, 0, ""},
		{"ok with trailing space", "{\"home\":\"A\"}\n\t ", 0, ""},
		{"empty", ``, 400, "empty body"},
		{"only space", "  \n", 400, "empty body"},
		{"trailing garbage", `{"home":"A"} x`, 400, "single JSON object"},
		{"two objects", `{"home":"A"}{"home":"B"}`, 400, "single JSON object"},
		{"trailing bracket", `{"home":"A"}]`, 400, "single JSON object"},
		{"unknown field", `{"home":"A","away":"B"}`, 400, `unknown field "away"`},
		{"wrong type", `{"n":"1"}`, 400, `field "n" must be a JSON int`},
		{"array", `[1]`, 400, "the body is a JSON array, not a JSON object"},
		{"truncated", `{"home":`, 400, "ends early"},
		{"syntax", `{home:1}`, 400, "malformed JSON at byte 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v body
			err := serve.DecodeJSON(strings.NewReader(c.in), &v)
			if c.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var je *serve.JSONError
			if !errors.As(err, &je) || je.Status != c.status || !strings.Contains(je.Msg, c.msg) {
				t.Fatalf("%v, want %d saying %q", err, c.status, c.msg)
			}
		})
	}
	// Too large: 413, the limit in the message, the MaxBytesError reachable.
	w := httptest.NewRecorder()
	var v map[string]any
	err := serve.DecodeJSON(http.MaxBytesReader(w, io.NopCloser(strings.NewReader(`{"a":"`+strings.Repeat("x", 100)+`"}`)), 32), &v)
	var je *serve.JSONError
	if !errors.As(err, &je) || je.Status != 413 || !strings.Contains(je.Msg, "over 32 bytes") || !errors.As(err, new(*http.MaxBytesError)) {
		t.Fatalf("too large: %v", err)
	}
}

// newLayer is a layer over a mux with one POST route and one that panics.
func newLayer(t *testing.T, logs io.Writer, reg prometheus.Registerer) http.Handler {
	t.Helper()
	l, err := serve.New(serve.Options{App: "test", Logger: slog.New(slog.NewTextHandler(logs, nil)), Registerer: reg,
		TrustedOrigins: []string{"https://front.example"}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	l.Handle(mux, "POST /do", "do", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "done") }))
	l.Handle(mux, "GET /boom", "boom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("secret detail") }))
	l.Handle(mux, "GET /fail", "fail", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.Fail(w, r, http.StatusServiceUnavailable, "the store is unavailable, try again", errors.New("dial tcp db.internal:5432: refused"))
	}))
	return l.Wrap(mux)
}

func TestLayer(t *testing.T) {
	var logs testlog.Buffer
	reg := prometheus.NewRegistry()
	h := newLayer(t, &logs, reg)
	do := func(method, path string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://app.example"+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// Cross-origin policy.
	for _, c := range []struct {
		name   string
		header []string
		code   int
	}{
		{"curl", nil, 200},
		{"same-origin", []string{"Sec-Fetch-Site", "same-origin"}, 200},
		{"own origin, old browser", []string{"Origin", "http://app.example"}, 200},
		{"trusted origin", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://front.example"}, 200},
		{"cross-site", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403},
		{"same-site", []string{"Sec-Fetch-Site", "same-site", "Origin", "https://www.app.example"}, 403},
		{"foreign origin, old browser", []string{"Origin", "https://evil.example"}, 403},
	} {
		w := do("POST", "/do", c.header...)
		if w.Code != c.code || c.code == 403 && !strings.Contains(w.Body.String(), "cross-site request refused") {
			t.Errorf("%s: %d %q, want %d", c.name, w.Code, w.Body, c.code)
		}
	}
	if got := countRequests(t, reg, `code="403"`); got != 3 {
		t.Errorf("403s counted: %v, want 3", got)
	}
	// A panic: a generic 500 with the request id, the detail in the log.
	w := do("GET", "/boom")
	id := w.Header().Get(serve.RequestIDHeader)
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret") || !strings.Contains(w.Body.String(), id) || len(id) != 16 {
		t.Errorf("panic: %d %q (id %q)", w.Code, w.Body, id)
	}
	if !strings.Contains(logs.String(), "secret detail") || !strings.Contains(logs.String(), "request_id="+id) {
		t.Errorf("panic not logged under its id:\n%s", logs.String())
	}
	// Fail: the phrase and the id, not the error.
	w = do("GET", "/fail")
	id = w.Header().Get(serve.RequestIDHeader)
	if want := "the store is unavailable, try again — see the server log (request id " + id + ")\n"; w.Code != 503 || w.Body.String() != want {
		t.Errorf("fail: %d %q, want %q", w.Code, w.Body, want)
	}
	if !strings.Contains(logs.String(), "db.internal:5432") {
		t.Errorf("fail detail not logged:\n%s", logs.String())
	}
	// Request ids differ; headers are on 404s too.
	a, b := do("GET", "/nowhere"), do("GET", "/nowhere")
	if a.Code != 404 || a.Header().Get(serve.RequestIDHeader) == b.Header().Get(serve.RequestIDHeader) ||
		a.Header().Get("X-Frame-Options") != "DENY" || a.Header().Get("Content-Security-Policy") != serve.ContentSecurityPolicy() {
		t.Errorf("404: %d %v", a.Code, a.Header())
	}
	// One request line per request, without the query string.
	do("GET", "/nowhere?team=Secretland")
	if strings.Contains(logs.String(), "Secretland") || !strings.Contains(logs.String(), "msg=request method=GET path=/nowhere status=404") {
		t.Errorf("request log:\n%s", logs.String())
	}
}

// countRequests sums the request counter's series carrying label.
func countRequests(t *testing.T, reg *prometheus.Registry, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != serve.RequestsMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName()+`="`+lp.GetValue()+`"` == label {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// TestHandleMetrics: /metrics serves the registry NewRegistry made (Go and
// process collectors) and counts itself under the layer's app label.
func TestHandleMetrics(t *testing.T) {
	reg := serve.NewRegistry()
	l, err := serve.New(serve.Options{App: "probe", Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	l.HandleMetrics(mux, reg)
	h := l.Wrap(mux)
	var body string
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		if w.Code != 200 || w.Header().Get("X-Frame-Options") != "DENY" {
			t.Fatalf("/metrics: %d %v", w.Code, w.Header())
		}
		body = w.Body.String()
	}
	for _, want := range []string{"go_goroutines ", "process_cpu_seconds_total ",
		`datalab_http_requests_total{app="probe",code="200",handler="metrics",method="get"} 1` + "\n",
		`promhttp_metric_handler_errors_total{cause="gathering"} 0` + "\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/metrics", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", w.Code)
	}
}

func TestBadTrustedOrigin(t *testing.T) {
	if _, err := serve.New(serve.Options{TrustedOrigins: []string{"front.example"}}); err == nil || !strings.Contains(err.Error(), "scheme://host") {
		t.Fatalf("%v", err)
	}
}

// TestServe: Ready gets the address, a request in flight when the context
// ends is answered, then Serve returns nil; a taken address fails at once.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "late but whole")
	})
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- serve.Serve(ctx, serve.ServerConfig{Addr: "127.0.0.1:0", Handler: h,
			Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: 5 * time.Second, Ready: func(a string) { addrc <- a }})
	}()
	addr := <-addrc
	if err := serve.Serve(context.Background(), serve.ServerConfig{Addr: addr, Handler: h}); err == nil ||
		!strings.Contains(err.Error(), "listen on "+addr) {
		t.Errorf("taken address: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond) // shutdown has begun, the request is still in flight
	close(release)
	if b := <-got; b != "late but whole" {
		t.Errorf("in-flight request got %q", b)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestScriptHash(t *testing.T) {
	// The hash of "alert(1)" as browsers compute it for CSP.
	if got := serve.ScriptHash("alert(1)"); got != "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='" {
		t.Errorf("%s", got)
	}
	if !bytes.Contains([]byte(serve.ContentSecurityPolicy("script-src 'self'")), []byte("; script-src 'self'")) {
		t.Error("directives not joined")
	}
}
