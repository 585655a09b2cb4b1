// Package matchapp is the World Cup match-winner web app: the seed's page
// (two team pickers → predicted outcome and its probability), a JSON API, a
// usage dashboard computed from the prediction log, /healthz and /metrics.
// It sits at the serving end of the flow: a matchwinner.Predictor (the
// trained model) answers, a predlog.Writer stores every prediction, and a
// predlog.Log feeds the dashboard. `datalab serve` wires it to a model and a
// database; this package holds all of the logic.
//
// Routes:
//
//	GET  /                          the form
//	POST /predict                   form submission → result page
//	POST /api/v1/matches/predict    JSON API
//	GET  /api/v1/matches/teams      teams the model knows
//	GET  /dashboard                 usage dashboard (server-side SVG charts; the
//	                                drift panel, computed in the background: drift.go)
//	GET  /healthz                   liveness + model version, alias, since + log backlog
//	GET  /metrics                   Prometheus metrics (own registry)
//
// Status codes of the API: 400 for malformed JSON, unknown fields, missing
// or unknown teams and bad dates; 413 for a body over the limit (64 KiB by
// default); 422 for a well-formed request
// naming the same team twice; 405 for a wrong method. Errors are
// {"error": "..."}; nothing is logged as a prediction unless one was served.
//
// The model comes from a ModelSource: a fixed predictor (a model directory)
// or a registry alias followed while serving (registry.Follower), which
// swaps versions without a failed request. Each prediction takes one
// snapshot of the source, stamps its server time while holding it, and
// answers, logs and labels itself (model_version, X-Model-Version) with
// that one version.
package matchapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// Recorder receives every served prediction; *predlog.Writer is the real
// one. Enqueue must not block on a failing database (*predlog.Writer waits
// at most its FullWait for room, and only while its writes succeed).
type Recorder interface {
	Enqueue(predlog.Entry)
	Stats() predlog.WriterStats
}

// DefaultMaxBodyBytes bounds request bodies (JSON and form).
const DefaultMaxBodyBytes = 64 << 10

// Config is what an App needs. Models or Predictor is required; without
// Recorder predictions are not logged, without Usage /dashboard answers 503.
type Config struct {
	// Models yields the model version each request is answered with.
	Models ModelSource
	// Predictor, when Models is nil, is served for good (FixedModel).
	Predictor matchwinner.Predictor
	Recorder  Recorder
	Usage     UsageSource
	// Metrics is the registry /metrics serves; nil makes a fresh
	// serve.NewRegistry(). `datalab serve` passes the one its
	// serve.ModelMetrics (datalab_model_info, swaps) is registered on.
	Metrics *prometheus.Registry
	// DashboardToken, when set, is required of every /dashboard GET, as
	// "Authorization: Bearer <token>" or ?token=<token> (401 otherwise).
	DashboardToken string
	// DashboardTimeout bounds a dashboard read and how long a GET waits for
	// it (503 after); 0 means DefaultDashboardTimeout.
	DashboardTimeout time.Duration
	// DashboardOff keeps /dashboard off the app's routes: serve it on
	// another listener with DashboardHandler, or not at all.
	DashboardOff bool
	// Drift, when set, is the dashboard's drift panel (drift.go); the
	// caller runs it (DriftPanel.Run).
	Drift *DriftPanel
	// Logger receives one line per request; nil uses slog.Default().
	Logger *slog.Logger
	// Now is the server clock (tests pin it); nil uses time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TrustedOrigins are origins besides the app's own whose browser POSTs
	// are accepted (serve.Options.TrustedOrigins).
	TrustedOrigins []string
}

// contentSecurityPolicy fits the pages: they need no script at all; inline
// styles and inline SVG only.
var contentSecurityPolicy = serve.ContentSecurityPolicy("style-src 'unsafe-inline'", "img-src 'self' data:")

// App is the match-winner web app, an http.Handler.
type App struct {
	cfg     Config
	models  ModelSource
	served  servedModels
	metrics *metrics
	mux     *http.ServeMux
	web     *serve.Layer
	handler http.Handler
	dash    *dashboard
}

// New builds the app around cfg.
func New(cfg Config) (*App, error) {
	if cfg.Models == nil && cfg.Predictor == nil {
		return nil, errors.New("matchapp: no model (Config.Models or Config.Predictor)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	a := &App{cfg: cfg, models: cfg.Models}
	if a.models == nil {
		a.models = FixedModel(cfg.Predictor, cfg.Now())
	}
	v, release := a.models.Snapshot()
	release()
	if v == nil || v.Model == nil {
		return nil, errors.New("matchapp: the model source serves no model")
	}
	a.metrics = newMetrics(cfg.Metrics, cfg.Recorder)
	web, err := serve.New(serve.Options{App: "matches", Logger: cfg.Logger, Registerer: a.metrics.reg,
		ContentSecurityPolicy: contentSecurityPolicy, TrustedOrigins: cfg.TrustedOrigins, WriteError: writeErrorFor})
	if err != nil {
		return nil, fmt.Errorf("matchapp: %w", err)
	}
	a.web = web

	a.mux = http.NewServeMux()
	a.route("GET /{$}", "home", a.handleHome)
	a.route("/predict", "predict_form", a.handlePredictForm)
	a.route("/api/v1/matches/predict", "predict_api", a.handlePredictAPI)
	a.route("GET /api/v1/matches/teams", "teams", a.handleTeams)
	a.dash = newDashboard(cfg, a.metrics.reg, web, a.Serving)
	if !cfg.DashboardOff {
		a.web.Handle(a.mux, "GET /dashboard", "dashboard", a.dash)
	}
	a.route("GET /healthz", "healthz", a.handleHealth)
	a.web.HandleMetrics(a.mux, a.metrics.reg)
	a.handler = a.web.Wrap(a.mux)
	return a, nil
}

func (a *App) route(pattern, name string, h http.HandlerFunc) { a.web.Handle(a.mux, pattern, name, h) }

// writeErrorFor answers the serving layer's refusals and 5xx errors: the
// API's {"error": …}, plain text elsewhere.
func writeErrorFor(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, &requestError{status, msg})
		return
	}
	http.Error(w, msg, status)
}

// ServeHTTP serves the app's routes behind the serving layer (security
// headers, request id, request log, cross-site POSTs refused).
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Version is the version serving now.
func (a *App) Version() string { return a.current().Version }

// Serving is the version serving now, its alias and since when.
func (a *App) Serving() Serving {
	cur := a.current()
	return Serving{Version: cur.Version, Alias: a.models.Alias(), Since: cur.Since}
}

// current is the version serving now, for what is not a prediction (pages,
// team lists, health).
func (a *App) current() *servedModel {
	v, release := a.models.Snapshot()
	release()
	return a.served.get(v)
}

// snapshot is a prediction's one look at the model source: the version it
// is answered with and its server time, stamped while the snapshot holds
// off swaps — so a request stamped before a swap's Since was answered by
// the old version and one stamped after by the new, exactly. The hold
// lasts only for the stamp; the prediction runs after it on the version
// taken.
func (a *App) snapshot() (*servedModel, time.Time) {
	v, release := a.models.Snapshot()
	now := a.cfg.Now().UTC()
	release()
	return a.served.get(v), now
}

func (a *App) handleHealth(w http.ResponseWriter, r *http.Request) {
	cur := a.current()
	resp := map[string]any{"status": "ok", "model_version": cur.Version, "since": cur.Since.UTC(), "teams": cur.allN}
	if alias := a.models.Alias(); alias != "" {
		resp["alias"] = alias
	}
	if a.cfg.Recorder != nil {
		s := a.cfg.Recorder.Stats()
		resp["prediction_log"] = map[string]int64{"pending": s.Pending, "written": s.Written, "failures": s.Failures, "dropped": s.Dropped, "waited": s.Waited}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *App) handleTeams(w http.ResponseWriter, r *http.Request) {
	cur := a.current()
	writeJSON(w, http.StatusOK, map[string]any{
		"teams":          cur.Model.Teams(),
		"world_cup_2022": cur.wcTeams,
	})
}

// record logs a served prediction and counts it.
func (a *App) record(req matchwinner.Request, p matchwinner.Prediction, clientTime, serverTime time.Time) {
	a.metrics.predictions.WithLabelValues(string(p.Outcome)).Inc()
	if a.cfg.Recorder != nil {
		a.cfg.Recorder.Enqueue(predlog.NewEntry(req, p, clientTime, serverTime))
	}
}

// predict runs version m of the model on a validated request; the answer
// carries m's version.
func (a *App) predict(ctx context.Context, m *servedModel, req matchwinner.Request) (matchwinner.Prediction, *requestError) {
	p, err := m.Model.Predict(ctx, req)
	switch {
	case err == nil:
		p.ModelVersion = m.Version
		return p, nil
	case errors.Is(err, matchwinner.ErrUnknownTeam):
		msg := err.Error()
		for _, t := range []string{req.Home, req.Away} {
			if s, ok := m.byFold[foldName(t)]; ok && !m.teams[t] {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
		}
		return p, &requestError{http.StatusBadRequest, msg + "; " + m.teamsHint()}
	case errors.Is(err, matchwinner.ErrSameTeam):
		return p, &requestError{http.StatusUnprocessableEntity, err.Error() + ": pick two different teams"}
	}
	a.cfg.Logger.Error("prediction failed", "home", req.Home, "away", req.Away, "err", err, "request_id", serve.RequestID(ctx))
	return p, &requestError{http.StatusInternalServerError, serve.PublicError(ctx, "the model could not answer this request")}
}
