package matchapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testlog"
	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// TestCrossSitePostsRefused is issue 12's finding 8: a page on another site
// could make a visitor's browser post the form or the API (each such POST
// is a prediction logged in the visitor's name). Browser POSTs from another
// origin — Sec-Fetch-Site cross-site or same-site, or an Origin that is not
// the Host — get 403 and a message and log nothing; the app's own pages and
// clients that send neither header (curl, scripts) are served.
func TestCrossSitePostsRefused(t *testing.T) {
	rec := &memRecorder{}
	app := newApp(t, matchapp.Config{Recorder: rec})
	const host = "matches.example:8080"
	for _, c := range []struct {
		name   string
		header []string
		code   int
	}{
		{"cross-site", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403},
		{"same-site sibling", []string{"Sec-Fetch-Site", "same-site", "Origin", "http://blog.matches.example"}, 403},
		{"old browser, foreign origin", []string{"Origin", "https://evil.example"}, 403},
		{"sandboxed page", []string{"Origin", "null"}, 403},
		{"own page", []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://" + host}, 200},
		{"typed into the address bar", []string{"Sec-Fetch-Site", "none"}, 200},
		{"old browser, own origin", []string{"Origin", "http://" + host}, 200},
		{"curl", nil, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/predict", "/api/v1/matches/predict"} {
				ct, body := "application/x-www-form-urlencoded", url.Values{"home": {"Argentina"}, "away": {"Japan"}}.Encode()
				if strings.HasPrefix(path, "/api/") {
					ct, body = "application/json", `{"home":"Argentina","away":"Japan"}`
				}
				r := httptest.NewRequest("POST", "http://"+host+path, strings.NewReader(body))
				r.Header.Set("Content-Type", ct)
				for i := 0; i+1 < len(c.header); i += 2 {
					r.Header.Set(c.header[i], c.header[i+1])
				}
				w := httptest.NewRecorder()
				app.ServeHTTP(w, r)
				if w.Code != c.code {
					t.Errorf("%s: %d %s, want %d", path, w.Code, w.Body, c.code)
				}
				if w.Code == 403 && !strings.Contains(w.Body.String(), "cross-site") {
					t.Errorf("%s: refusal %q does not say why", path, w.Body)
				}
				if w.Code == 403 && strings.HasPrefix(path, "/api/") {
					var e map[string]string
					if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e["error"] == "" {
						t.Errorf("%s: refusal %q is not {\"error\": ...}", path, w.Body)
					}
				}
			}
		})
	}
	// Four allowed cases × two routes.
	if n := len(rec.all()); n != 8 {
		t.Errorf("%d predictions logged, want 8 (refused requests log none)", n)
	}
}

// TestSecurityHeaders: every answer — pages, JSON, /metrics, a 404 —
// carries the header set both apps share, and a request id.
func TestSecurityHeaders(t *testing.T) {
	app := newApp(t, matchapp.Config{Recorder: &memRecorder{}})
	for _, path := range []string{"/", "/api/v1/matches/teams", "/healthz", "/metrics", "/nowhere", "/dashboard"} {
		w := do(t, app, "GET", path, "", nil)
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin"} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %s", path, csp, want)
			}
		}
		if w.Header().Get(serve.RequestIDHeader) == "" {
			t.Errorf("%s: no %s", path, serve.RequestIDHeader)
		}
	}
}

// failingPredictor fails with an error carrying internal detail.
type failingPredictor struct{ *tablePredictor }

func (failingPredictor) Predict(ctx context.Context, req matchwinner.Request) (matchwinner.Prediction, error) {
	return matchwinner.Prediction{}, errors.New("open /srv/secret/model.bin: permission denied")
}

// TestInternalErrorBodies: a failing model answers 500 with a body that
// names no detail, carries the request id and says where to look; the
// detail is logged under that id.
func TestInternalErrorBodies(t *testing.T) {
	var logs testlog.Buffer
	app := newApp(t, matchapp.Config{Predictor: failingPredictor{newTablePredictor()},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, w := range []*httptest.ResponseRecorder{
		postJSON(t, app, `{"home":"Argentina","away":"Japan"}`),
		do(t, app, "POST", "/predict", "application/x-www-form-urlencoded", strings.NewReader("home=Argentina&away=Japan")),
	} {
		rid := w.Header().Get(serve.RequestIDHeader)
		if w.Code != 500 || strings.Contains(w.Body.String(), "secret") || rid == "" || !strings.Contains(w.Body.String(), rid) ||
			!strings.Contains(w.Body.String(), "see the server log") {
			t.Errorf("%d %s (request id %q)", w.Code, w.Body, rid)
		}
		if !strings.Contains(logs.String(), "request_id="+rid) || !strings.Contains(logs.String(), "/srv/secret/model.bin") {
			t.Errorf("log lacks the detail under request_id=%s:\n%s", rid, logs.String())
		}
	}
}
