package flightapp_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightapp"
	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/flighttest"
)

// switchModels is a Models whose model the test switches, as a registry
// follower does when its alias moves (swaps wait for snapshots).
type switchModels struct {
	mu  sync.RWMutex
	cur flightdelay.Served
}

func (m *switchModels) Snapshot() (flightdelay.Served, func()) {
	m.mu.RLock()
	return m.cur, m.mu.RUnlock
}

func (m *switchModels) swap(s flightdelay.Served) {
	m.mu.Lock()
	m.cur = s
	m.mu.Unlock()
}

// TestStackFollowsModels: with Models, the app's synchronous API, its
// /healthz and the in-process predictor use the model serving at the time
// of each request: after a swap the API answers with the new version (in
// the prediction's Model, X-Model-Version and the probabilities that
// version gives), /healthz names it, and a request posted after the swap
// is stored with it.
func TestStackFollowsModels(t *testing.T) {
	scA, dist := flighttest.Fixtures(t)
	scB, err := flightdelay.LoadScorer(flighttest.ModelDirSpark353(t))
	if err != nil {
		t.Fatal(err)
	}
	a := flightdelay.Served{Scorer: scA, Version: strings.Repeat("a", 64), Alias: "champion", Since: time.Now()}
	b := flightdelay.Served{Scorer: scB, Version: strings.Repeat("b", 64), Alias: "champion", Since: time.Now().Add(time.Second)}
	models := &switchModels{cur: a}
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "flights.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := flightapp.StartStack(context.Background(), flightapp.StackConfig{
		EmbeddedAddr: "127.0.0.1:0", Models: models, Distances: dist, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	srv := httptest.NewServer(s.App)
	t.Cleanup(srv.Close)

	check := func(m flightdelay.Served) {
		t.Helper()
		resp, err := http.PostForm(srv.URL+"/api/v1/flights/predict", seedForm())
		if err != nil {
			t.Fatal(err)
		}
		header := resp.Header.Get(flightapp.ModelVersionHeader)
		code, body := decode(t, resp)
		pred, _ := body["prediction"].(map[string]any)
		req, err := (&flightdelay.Enricher{Distances: dist}).Enrich(flightdelay.DefaultForm)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.Score(req)
		if err != nil {
			t.Fatal(err)
		}
		var prob []float64
		for _, p := range pred["Probability"].([]any) {
			prob = append(prob, p.(float64))
		}
		if code != 200 || header != m.Version || pred["Model"] != m.Version || !slices.Equal(prob, want.Probability) {
			t.Errorf("sync API: %d, %s %q, Model %v, Probability %v; want version %s, probabilities %v",
				code, flightapp.ModelVersionHeader, header, pred["Model"], prob, m.Version, want.Probability)
		}
		resp, err = http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		_, h := decode(t, resp)
		if h["status"] != "OK" || h["model_version"] != m.Version || h["model"] != m.Version || h["alias"] != "champion" ||
			h["since"] != m.Since.UTC().Format(time.RFC3339Nano) {
			t.Errorf("/healthz %v, want version %s since %s", h, m.Version, m.Since)
		}
		_, posted := postForm(t, srv.URL, seedForm())
		id, _ := posted["id"].(string)
		got := waitOK(t, srv.URL, id, 10*time.Second)["prediction"].(map[string]any)
		if got["Model"] != m.Version {
			t.Errorf("stored prediction's Model %v, want %s", got["Model"], m.Version)
		}
	}
	check(a)
	models.swap(b)
	check(b)
}
