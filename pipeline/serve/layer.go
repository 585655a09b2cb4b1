package serve

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// RequestIDHeader carries each answer's request id; the same id is on the
// request's log lines and in every 5xx body.
const RequestIDHeader = "X-Request-Id"

// Metric names shared by the apps and the predictor's endpoint; the app
// label tells them apart.
const (
	RequestsMetric = "datalab_http_requests_total"
	DurationMetric = "datalab_http_request_duration_seconds"
)

// CrossSiteMessage is the body of a refused cross-origin POST.
const CrossSiteMessage = "cross-site request refused: this app accepts form and API posts only from its own pages " +
	"(Sec-Fetch-Site same-origin, or an Origin equal to the Host); scripts and curl, which send no Origin, are served, " +
	"and an operator can trust another origin with --trusted-origins"

// ErrorWriter writes an error answer in the app's own format (JSON
// envelope, page, plain text). msg is safe to show: Layer only passes its
// own fixed messages and PublicError texts.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, msg string)

// Options configure a Layer.
type Options struct {
	// App names the app in metrics (label app) and logs: "matches",
	// "flights", "predictor".
	App string
	// Logger gets the request log and the details of failures; nil uses
	// slog.Default().
	Logger *slog.Logger
	// Registerer gets the HTTP metrics; nil registers none.
	Registerer prometheus.Registerer
	// ContentSecurityPolicy is sent on every answer; build it with
	// ContentSecurityPolicy(…). Empty means the strictest policy (nothing
	// loads), which fits JSON-only apps.
	ContentSecurityPolicy string
	// TrustedOrigins are origins ("https://host[:port]") besides the
	// app's own whose browser POSTs are accepted, e.g. a front end on
	// another host name.
	TrustedOrigins []string
	// WriteError writes refusals and 5xx answers; nil writes text/plain.
	WriteError ErrorWriter
}

// Layer is the serving layer of one app: wrap the app's mux with Wrap and
// register its routes with Handle.
type Layer struct {
	app      string
	log      *slog.Logger
	csp      string
	cop      *http.CrossOriginProtection
	writeErr ErrorWriter
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New builds a Layer; it fails on a malformed trusted origin or when the
// metrics cannot be registered (an app registered twice on one registry).
func New(o Options) (*Layer, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ContentSecurityPolicy == "" {
		o.ContentSecurityPolicy = ContentSecurityPolicy()
	}
	if o.WriteError == nil {
		o.WriteError = func(w http.ResponseWriter, _ *http.Request, status int, msg string) { http.Error(w, msg, status) }
	}
	l := &Layer{app: o.App, log: o.Logger, csp: o.ContentSecurityPolicy, cop: http.NewCrossOriginProtection(), writeErr: o.WriteError}
	for _, origin := range o.TrustedOrigins {
		if err := l.cop.AddTrustedOrigin(strings.TrimRight(origin, "/")); err != nil {
			return nil, fmt.Errorf("trusted origin: %w (write it as scheme://host[:port])", err)
		}
	}
	labels := prometheus.Labels{"app": o.App}
	l.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: RequestsMetric, Help: "HTTP requests by app, handler, method and status code.", ConstLabels: labels,
	}, []string{"handler", "method", "code"})
	l.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: DurationMetric, Help: "HTTP request latency by app and handler.", ConstLabels: labels,
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"handler"})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{l.requests, l.duration} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register HTTP metrics of %s: %w", o.App, err)
			}
		}
	}
	return l, nil
}

// ContentSecurityPolicy joins the directives every page gets — nothing
// loads unless allowed, no <base>, forms post only to the app, no framing
// (clickjacking) — with an app's own (e.g. "style-src 'unsafe-inline'").
func ContentSecurityPolicy(directives ...string) string {
	return strings.Join(append([]string{"default-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"},
		directives...), "; ")
}

// ScriptHash is the CSP source allowing exactly the inline script src (the
// text between <script> and </script>): 'sha256-…'.
func ScriptHash(src string) string {
	sum := sha256.Sum256([]byte(src))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Handle registers h on mux under pattern, counted and timed as handler
// name, with browser POSTs from other origins refused (403).
func (l *Layer) Handle(mux *http.ServeMux, pattern, name string, h http.Handler) {
	guarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := l.cop.Check(r); err != nil {
			// Origin and Sec-Fetch-Site are browser-set, not user input
			// worth hiding; they say who tried.
			l.log.LogAttrs(r.Context(), slog.LevelWarn, "cross-site request refused", slog.String("app", l.app),
				slog.String("request_id", RequestID(r.Context())), slog.String("path", r.URL.Path),
				slog.String("origin", r.Header.Get("Origin")), slog.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")),
				slog.String("reason", err.Error()))
			l.writeErr(w, r, http.StatusForbidden, CrossSiteMessage)
			return
		}
		h.ServeHTTP(w, r)
	})
	labels := prometheus.Labels{"handler": name}
	mux.Handle(pattern, promhttp.InstrumentHandlerDuration(l.duration.MustCurryWith(labels),
		promhttp.InstrumentHandlerCounter(l.requests.MustCurryWith(labels), guarded)))
}

type requestIDKey struct{}

// RequestID is the id Wrap gave the request ("" outside Wrap).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// newRequestID is 16 hex digits: unique enough to find one request in a
// day of logs, short enough to read out.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// PublicError is the body text of a 5xx answer: what (a fixed phrase such
// as "the prediction store is unavailable, try again" — never an error's
// text, which can name hosts, users and paths) and where the detail is.
func PublicError(ctx context.Context, what string) string {
	if what == "" {
		what = "internal error"
	}
	return what + " — see the server log (request id " + RequestID(ctx) + ")"
}

// Fail logs err under the request id and answers status with
// PublicError(what): the detail goes to the log, never to the client.
func (l *Layer) Fail(w http.ResponseWriter, r *http.Request, status int, what string, err error) {
	l.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("app", l.app),
		slog.String("request_id", RequestID(r.Context())), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("err", fmt.Sprint(err)))
	l.writeErr(w, r, status, PublicError(r.Context(), what))
}

// statusWriter remembers the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Wrap is the outer layer around an app: security headers and a request id
// on every answer, one log line per request (method, path without the
// query — it can carry user input —, status, duration, request id), and a
// panic in a handler answered as a generic 500 with the stack in the log.
func (l *Layer) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		hd := w.Header()
		hd.Set("Content-Security-Policy", l.csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set(RequestIDHeader, id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
				if sw.status == 0 {
					l.Fail(sw, r, http.StatusInternalServerError, "", err)
				} else {
					l.log.LogAttrs(r.Context(), slog.LevelError, "request failed after answering", slog.String("app", l.app),
						slog.String("request_id", id), slog.String("err", err.Error()))
				}
			}
			if sw.status == 0 {
				sw.status = http.StatusOK // net/http's answer to a handler that writes nothing
			}
			if l.log.Enabled(r.Context(), slog.LevelInfo) {
				l.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)),
					slog.String("request_id", id), slog.String("app", l.app))
			}
		}()
		h.ServeHTTP(sw, r)
	})
}
