// Package flightapp is the flight-delay web app with the seed's exact HTTP
// contract:
//
//	GET  /flights/delays/predict_kafka                        the form page
//	POST /flights/delays/predict/classify_realtime            → {"status":"OK","id":"<uuid>"}
//	GET  /flights/delays/predict/classify_realtime/response/<id>
//	     → {"status":"WAIT","id":…} until predicted, then {"status":"OK","id":…,"prediction":{…}}
//	     → 410 {"status":"EXPIRED","id":…,"error":…} when not predicted within the store's TTL
//
// plus a synchronous POST /api/v1/flights/predict for scripts (scored in
// the request, neither published nor stored), /healthz and /metrics.
//
// The app enriches and validates the form (flights/flightdelay), records
// the issued id in the store (flights/flightstore), and publishes the
// request (flights/stream's Producer); the predictor answers through the
// store. Because issued ids live in the store, the response route tells an
// id never issued (404) from one not yet answered (WAIT) after a restart
// and across replicas sharing the store.
//
// The model (Config.Models: fixed, or a registry alias the CLI follows)
// is taken once per request, as a snapshot that checks and scores it; the
// request's body is read before and the store and Kafka are written after,
// so a model swap never waits on I/O.
package flightapp

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datalabhq/datalab/pipeline/serve"
)

// Publisher publishes an enriched request (stream.Producer is one).
type Publisher interface {
	Publish(ctx context.Context, r flightdelay.Request) error
}

// Config configures the app.
type Config struct {
	// Enricher turns forms into requests. Its Scorer is replaced, for
	// each request, by the serving model's, which rejects values that
	// model does not know.
	Enricher *flightdelay.Enricher
	// Scorer is the model: it checks forms and serves the synchronous
	// API. Or Models, when set, gives the model of each request (one
	// snapshot checks and scores it, so a request sees one version
	// whatever swaps happen meanwhile).
	Scorer *flightdelay.Scorer
	Models flightdelay.Models
	// Store records issued ids and holds the predictions.
	Store flightstore.Store
	// Publisher sends requests to the predictor.
	Publisher Publisher
	// MaxBody bounds request bodies (default 16 KiB; the form is ~100 bytes).
	MaxBody int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry gets the app's metrics and is served on /metrics; nil makes
	// a new one with the Go and process collectors.
	Registry *prometheus.Registry
	// TrustedOrigins are origins besides the app's own whose browser POSTs
	// are accepted (serve.Options.TrustedOrigins).
	TrustedOrigins []string
}

// App is the http.Handler.
type App struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	registry *prometheus.Registry
	web      *serve.Layer
	handler  http.Handler
}

// contentSecurityPolicy fits the form page: its one inline script (allowed
// by hash, so an injected script would not run), inline styles, and
// fetches to this app only.
var contentSecurityPolicy = serve.ContentSecurityPolicy(
	"script-src "+serve.ScriptHash(inlineScript(formPage)), "style-src 'unsafe-inline'", "connect-src 'self'")

// inlineScript is the text of the page's <script> element.
func inlineScript(page string) string {
	_, after, _ := strings.Cut(page, "<script>")
	script, _, _ := strings.Cut(after, "</script>")
	return script
}

// New builds the app.
func New(cfg Config) (*App, error) {
	if cfg.Models == nil && cfg.Scorer != nil {
		cfg.Models = flightdelay.FixedModel(cfg.Scorer)
	}
	if cfg.Enricher == nil || cfg.Enricher.Distances == nil || cfg.Models == nil || cfg.Store == nil || cfg.Publisher == nil {
		return nil, errors.New("flightapp: Enricher (with Distances), Scorer (or Models), Store and Publisher are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = serve.NewRegistry()
	}
	a := &App{cfg: cfg, log: cfg.Logger.With("component", "flightapp"), mux: http.NewServeMux(), registry: cfg.Registry}
	web, err := serve.New(serve.Options{App: "flights", Logger: cfg.Logger, Registerer: cfg.Registry,
		ContentSecurityPolicy: contentSecurityPolicy, TrustedOrigins: cfg.TrustedOrigins, WriteError: writeError})
	if err != nil {
		return nil, fmt.Errorf("flightapp: %w", err)
	}
	a.web = web
	a.handle("GET /flights/delays/predict_kafka", "form", a.form)
	a.handle("POST /flights/delays/predict/classify_realtime", "classify", a.classify)
	a.handle("GET /flights/delays/predict/classify_realtime/response/{id}", "response", a.response)
	a.handle("POST /api/v1/flights/predict", "api_predict", a.predictSync)
	a.handle("GET /healthz", "healthz", a.healthz)
	a.web.HandleMetrics(a.mux, cfg.Registry)
	a.handle("GET /{$}", "root", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/flights/delays/predict_kafka", http.StatusFound)
	})
	a.handler = a.web.Wrap(a.mux)
	return a, nil
}

// Registry is the registry /metrics serves (the predictor can add to it).
func (a *App) Registry() *prometheus.Registry { return a.registry }

// ServeHTTP implements http.Handler: the routes behind the serving layer
// (security headers, request id, request log, metrics, cross-site POSTs
// refused).
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

func (a *App) handle(pattern, route string, h http.HandlerFunc) {
	a.web.Handle(a.mux, pattern, route, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBody)
		h(w, r)
	}))
}

// errorBody is every error answer: {"status":"ERROR","error":…,"problems":[…]}.
type errorBody struct {
	Status   string                   `json:"status"`
	ID       string                   `json:"id,omitempty"`
	Error    string                   `json:"error"`
	Problems []flightdelay.FieldError `json:"problems,omitempty"`
}

// writeError is the serving layer's error writer: refusals and 5xx answers
// in the app's envelope, which the page shows.
func writeError(w http.ResponseWriter, _ *http.Request, code int, msg string) {
	writeJSON(w, code, errorBody{Status: "ERROR", Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// fail answers an error: a *flightdelay.ValidationError becomes 400 with
// its problems, a too-large body 413, anything else a 500 whose body names
// no detail (the detail is logged under the request id).
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *flightdelay.ValidationError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Status: "ERROR",
			Error: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)})
	case errors.As(err, &ve):
		writeJSON(w, http.StatusBadRequest, errorBody{Status: "ERROR", Error: "invalid request: " + ve.Error(), Problems: ve.Problems})
	default:
		a.web.Fail(w, r, http.StatusInternalServerError, "", err)
	}
}

// readForm reads the seed form's fields from a urlencoded or multipart
// form, or from a JSON object with the same names.
func readForm(r *http.Request) (flightdelay.Form, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var f flightdelay.Form
	switch ct {
	case "application/json":
		// One JSON object and nothing after it; its keys are checked
		// below (a map takes any), case-sensitively, and numbers are
		// accepted as numbers or strings.
		var raw map[string]json.RawMessage
		if err := serve.DecodeJSON(r.Body, &raw); err != nil {
			var je *serve.JSONError
			switch {
			case errors.As(err, new(*http.MaxBytesError)):
				return f, err
			case errors.As(err, &je) && je.Empty:
				return f, badRequest("empty body: send a JSON object with DepDelay, Carrier, FlightDate, Origin, Dest and optionally FlightNum")
			}
			return f, badRequest("%v", err)
		}
		known := map[string]*string{"DepDelay": &f.DepDelay, "Carrier": &f.Carrier, "FlightDate": &f.FlightDate,
			"Origin": &f.Origin, "Dest": &f.Dest, "FlightNum": &f.FlightNum}
		for k, v := range raw {
			dst, ok := known[k]
			if !ok {
				return f, badRequest("unknown field %q (the fields are DepDelay, Carrier, FlightDate, Origin, Dest, FlightNum)", k)
			}
			if string(v) == "null" {
				continue
			}
			var s string
			if err := json.Unmarshal(v, &s); err == nil {
				*dst = s
				continue
			}
			var n json.Number
			if err := json.Unmarshal(v, &n); err != nil {
				return f, badRequest("field %s: want a string or a number, got %s", k, v)
			}
			*dst = n.String()
		}
		return f, nil
	case "application/x-www-form-urlencoded", "multipart/form-data":
		var err error
		if ct == "multipart/form-data" {
			err = r.ParseMultipartForm(4 << 10)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return f, err
			}
			return f, badRequest("cannot read the form: %v", err)
		}
		v := r.PostForm
		return flightdelay.Form{DepDelay: v.Get("DepDelay"), Carrier: v.Get("Carrier"), FlightDate: v.Get("FlightDate"),
			Origin: v.Get("Origin"), Dest: v.Get("Dest"), FlightNum: v.Get("FlightNum")}, nil
	}
	return f, badRequest("Content-Type %q: send application/x-www-form-urlencoded, multipart/form-data or application/json", r.Header.Get("Content-Type"))
}

// badRequest is a ValidationError about the body as a whole.
func badRequest(format string, args ...any) error {
	return &flightdelay.ValidationError{Problems: []flightdelay.FieldError{{Field: "body", Message: fmt.Sprintf(format, args...)}}}
}

// enrich turns a form into the request the predictor gets, checked
// against m's model (the Enricher's Scorer is m's).
func (a *App) enrich(f flightdelay.Form, m flightdelay.Served) (flightdelay.Request, error) {
	e := *a.cfg.Enricher
	e.Scorer = m.Scorer
	return e.Enrich(f)
}

// classify is the seed's POST: enrich, record the id, publish, answer the id.
func (a *App) classify(w http.ResponseWriter, r *http.Request) {
	f, err := readForm(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The model is held only for the check (the body is read before,
	// the store and Kafka are written after), so a swap never waits on I/O.
	m, release := a.cfg.Models.Snapshot()
	req, err := a.enrich(f, m)
	release()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The id is recorded before publishing: a fast predictor's answer can
	// then never precede it, and a failed publish leaves an id nobody holds.
	if err := a.cfg.Store.Issue(r.Context(), req.UUID, time.Now()); err != nil {
		a.web.Fail(w, r, http.StatusServiceUnavailable, "the prediction store is unavailable, try again", fmt.Errorf("issue request id: %w", err))
		return
	}
	if err := a.cfg.Publisher.Publish(r.Context(), req); err != nil {
		a.web.Fail(w, r, http.StatusServiceUnavailable, "could not hand the request to the predictor, try again", fmt.Errorf("publish request: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "OK", "id": req.UUID})
}

// response is the seed's polling route.
func (a *App) response(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		writeJSON(w, http.StatusNotFound, errorBody{Status: "ERROR", ID: id, Error: "not a request id: ids are UUIDs returned by POST /flights/delays/predict/classify_realtime"})
		return
	}
	doc, status, err := a.cfg.Store.Get(r.Context(), id)
	if err != nil {
		a.web.Fail(w, r, http.StatusServiceUnavailable, "the prediction store is unavailable, poll again", fmt.Errorf("get prediction %s: %w", id, err))
		return
	}
	switch status {
	case flightstore.Done:
		writeJSON(w, http.StatusOK, struct {
			Status     string                 `json:"status"`
			ID         string                 `json:"id"`
			Prediction flightdelay.Prediction `json:"prediction"`
		}{"OK", id, doc})
	case flightstore.Pending:
		writeJSON(w, http.StatusOK, map[string]string{"status": "WAIT", "id": id})
	case flightstore.Expired:
		// 410: the id was real but will never be answered (the store
		// refuses late predictions); polling again cannot help.
		writeJSON(w, http.StatusGone, errorBody{Status: "EXPIRED", ID: id,
			Error: "this request expired before a prediction came (the predictor may be down); submit it again"})
	default:
		writeJSON(w, http.StatusNotFound, errorBody{Status: "ERROR", ID: id,
			Error: "unknown request id: it was never issued by this service, or it expired and was removed"})
	}
}

// predictSync scores a form in the request, for scripts: one snapshot of
// the model checks and scores it; a registry version is also in the
// X-Model-Version header.
func (a *App) predictSync(w http.ResponseWriter, r *http.Request) {
	f, err := readForm(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	m, release := a.cfg.Models.Snapshot()
	req, err := a.enrich(f, m)
	var doc flightdelay.Prediction
	if err == nil {
		doc, err = m.Score(req)
	}
	release()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if m.Version != "" {
		w.Header().Set(ModelVersionHeader, m.Version)
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "OK", "id": req.UUID, "prediction": doc})
}

// ModelVersionHeader carries the registry version that scored a
// synchronous prediction (also its prediction's Model).
const ModelVersionHeader = "X-Model-Version"

// healthz answers 200 when the store answers, naming the model serving
// (flightdelay.Served.Health: model, and from the registry model_version,
// alias, since).
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.cfg.Store.Ping(ctx); err != nil {
		// The driver's error names hosts and users: log it, answer a
		// phrase (/healthz is reachable wherever the app is).
		a.web.Fail(w, r, http.StatusServiceUnavailable, "store: not answering", err)
		return
	}
	m, release := a.cfg.Models.Snapshot()
	body := m.Health()
	release()
	body["status"] = "OK"
	writeJSON(w, http.StatusOK, body)
}

// form serves the page.
func (a *App) form(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page := formPage
	d := flightdelay.DefaultForm
	for k, v := range map[string]string{"{{DepDelay}}": d.DepDelay, "{{Carrier}}": d.Carrier, "{{FlightDate}}": d.FlightDate,
		"{{Origin}}": d.Origin, "{{Dest}}": d.Dest} {
		page = strings.ReplaceAll(page, k, v)
	}
	w.Write([]byte(page))
}

//go:embed form.html
var formPage string
