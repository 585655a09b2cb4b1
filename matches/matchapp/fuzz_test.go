package matchapp_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/matchapp"
)

// FuzzPredictAPI sends arbitrary bodies to the JSON API: every answer is a
// client error or a prediction, never a 5xx, always JSON; a prediction is
// served only for a body that is exactly one JSON object.
func FuzzPredictAPI(f *testing.F) {
	for _, s := range []string{`{"home":"Argentina","away":"France","neutral":true}`, `{"home":"Japan","away":"Brazil","as_of":"2022-11-20"}`,
		`{"home":"Argentina","away":"France"} x`, `{}{}`, `[`, `{"home":1}`, `{"venue":"Doha"}`, ``} {
		f.Add([]byte(s))
	}
	app := fuzzApp(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/v1/matches/predict", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			var v map[string]any
			dec := json.NewDecoder(bytes.NewReader(body))
			if err := dec.Decode(&v); err != nil || len(bytes.Trim(body[dec.InputOffset():], " \t\r\n")) > 0 {
				t.Fatalf("200 for a body that is not one JSON object: %q", body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("%d for %q: %s", w.Code, body, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body)
		}
	})
}

// FuzzPredictForm sends arbitrary form bodies to POST /predict: a page
// with a result or the form and a message, never a 5xx.
func FuzzPredictForm(f *testing.F) {
	for _, s := range []string{"home=Argentina&away=France&neutral=1", "home=Japan&away=Japan", "home=%zz", "as_of=2022-13-01&home=A&away=B",
		"home=" + strings.Repeat("a", 300) + "&away=France", ""} {
		f.Add([]byte(s))
	}
	app := fuzzApp(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/predict", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("%d for %q: %s", w.Code, body, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Fatalf("Content-Type %q", ct)
		}
	})
}

// fuzzApp is the app over the table predictor, logging nothing.
func fuzzApp(f *testing.F) *matchapp.App {
	app, err := matchapp.New(matchapp.Config{Predictor: newTablePredictor(), Recorder: discardRecorder{},
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return fixedNow }})
	if err != nil {
		f.Fatal(err)
	}
	return app
}
