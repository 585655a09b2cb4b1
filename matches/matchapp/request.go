package matchapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// requestError is a client error: an HTTP status and a message that says
// what was wrong and what to do.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// ClientTimeHeader carries the client's send time (RFC 3339) when the JSON
// body's client_time field is not used; the form page cannot set it.
const ClientTimeHeader = "X-Client-Time"

// matchInput is a request as received, before validation.
type matchInput struct {
	Home, Away string
	Neutral    bool
	AsOf       string // YYYY-MM-DD or ""
	ClientTime string // RFC 3339 or ""
}

// validate turns raw input into a model request, or says what is wrong.
// Team names are trimmed of surrounding white space and otherwise kept
// verbatim; whether a team is known is the predictor's call (it may accept
// aliases such as "Iran" for "IR Iran").
func (a *App) validate(in matchInput) (req matchwinner.Request, clientTime time.Time, rerr *requestError) {
	bad := func(status int, format string, args ...any) *requestError {
		return &requestError{status, fmt.Sprintf(format, args...)}
	}
	home, away := strings.TrimSpace(in.Home), strings.TrimSpace(in.Away)
	switch {
	case home == "" && away == "":
		return req, clientTime, bad(http.StatusBadRequest, "home and away teams are required")
	case home == "":
		return req, clientTime, bad(http.StatusBadRequest, "the home team is required")
	case away == "":
		return req, clientTime, bad(http.StatusBadRequest, "the away team is required")
	}
	for _, t := range []string{home, away} {
		if !utf8.ValidString(t) || len(t) > predlog.MaxTeamNameLength {
			return req, clientTime, bad(http.StatusBadRequest, "team names must be valid UTF-8 of at most %d bytes", predlog.MaxTeamNameLength)
		}
	}
	if home == away {
		return req, clientTime, bad(http.StatusUnprocessableEntity, "home and away are the same team (%q): pick two different teams", home)
	}
	req = matchwinner.Request{Home: home, Away: away, Neutral: in.Neutral}
	if in.AsOf != "" {
		d, err := time.Parse(time.DateOnly, in.AsOf)
		if err != nil {
			return req, clientTime, bad(http.StatusBadRequest, "as_of %q is not a date: use YYYY-MM-DD", in.AsOf)
		}
		req.AsOf = d
	}
	if in.ClientTime != "" {
		t, err := time.Parse(time.RFC3339Nano, in.ClientTime)
		if err != nil {
			return req, clientTime, bad(http.StatusBadRequest, "client_time %q is not an RFC 3339 time (e.g. 2022-11-20T16:00:00Z)", in.ClientTime)
		}
		clientTime = t
	}
	return req, clientTime, nil
}

func (m *servedModel) teamsHint() string {
	return fmt.Sprintf("GET /api/v1/matches/teams lists the %d teams the model knows", m.allN)
}

func foldName(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// apiRequest is the JSON body of POST /api/v1/matches/predict.
type apiRequest struct {
	Home string `json:"home"`
	Away string `json:"away"`
	// Neutral defaults to true: most World Cup matches are on neutral ground.
	Neutral    *bool  `json:"neutral"`
	AsOf       string `json:"as_of"`
	ClientTime string `json:"client_time"`
}

// decodeJSON reads one JSON object from r's body into v, strictly
// (serve.DecodeJSON: size-limited, unknown fields and anything after
// the object refused). The Content-Type header is not checked (curl -d
// sends a form type); the body itself must be JSON.
func (a *App) decodeJSON(w http.ResponseWriter, r *http.Request, v any) *requestError {
	err := serve.DecodeJSON(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes), v)
	if err == nil {
		return nil
	}
	var je *serve.JSONError
	if !errors.As(err, &je) {
		return &requestError{http.StatusBadRequest, "malformed JSON: " + err.Error()}
	}
	switch {
	case je.Empty:
		return &requestError{je.Status, `empty body: send {"home": "...", "away": "...", "neutral": true}`}
	case je.UnknownField != "":
		return &requestError{je.Status, je.Msg + `: the fields are home, away, neutral, as_of, client_time`}
	}
	return &requestError{je.Status, je.Msg}
}

// apiResponse is the JSON answer of POST /api/v1/matches/predict.
type apiResponse struct {
	Home          string                          `json:"home"`
	Away          string                          `json:"away"`
	Neutral       bool                            `json:"neutral"`
	AsOf          string                          `json:"as_of,omitempty"`
	Outcome       matchwinner.Outcome             `json:"outcome"`
	Winner        string                          `json:"winner,omitempty"`
	Probability   float64                         `json:"probability"`
	Probabilities map[matchwinner.Outcome]float64 `json:"probabilities"`
	ModelVersion  string                          `json:"model_version"`
	Variant       string                          `json:"variant"`
	ServerTime    time.Time                       `json:"server_time"`
}

func (a *App) handlePredictAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &requestError{http.StatusMethodNotAllowed, "use POST with a JSON body"})
		return
	}
	var body apiRequest
	if rerr := a.decodeJSON(w, r, &body); rerr != nil {
		writeError(w, rerr)
		return
	}
	in := matchInput{Home: body.Home, Away: body.Away, Neutral: true, AsOf: body.AsOf, ClientTime: body.ClientTime}
	if body.Neutral != nil {
		in.Neutral = *body.Neutral
	}
	if in.ClientTime == "" {
		in.ClientTime = r.Header.Get(ClientTimeHeader)
	}
	req, clientTime, rerr := a.validate(in)
	if rerr != nil {
		writeError(w, rerr)
		return
	}
	m, now := a.snapshot()
	p, rerr := a.predict(r.Context(), m, req)
	if rerr != nil {
		writeError(w, rerr)
		return
	}
	a.record(req, p, clientTime, now)
	resp := apiResponse{
		Home: req.Home, Away: req.Away, Neutral: req.Neutral,
		Outcome: p.Outcome, Winner: p.Winner, Probability: p.Probability, Probabilities: p.Probabilities,
		ModelVersion: p.ModelVersion, Variant: p.Variant, ServerTime: now,
	}
	if !req.AsOf.IsZero() {
		resp.AsOf = req.AsOf.Format(time.DateOnly)
	}
	w.Header()[ModelVersionHeader] = m.header
	writeAPIResponse(w, &resp)
}

func setJSONHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v) // the client has gone if this fails
}

func writeError(w http.ResponseWriter, e *requestError) {
	writeJSON(w, e.status, map[string]string{"error": e.msg})
}
