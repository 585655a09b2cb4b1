package matchapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/serve"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// taggedPredictor is a tablePredictor whose answers say which model made
// them (Variant), under its own version.
type taggedPredictor struct {
	*tablePredictor
	tag string
}

func (p taggedPredictor) Predict(ctx context.Context, req matchwinner.Request) (matchwinner.Prediction, error) {
	pr, err := p.tablePredictor.Predict(ctx, req)
	pr.Variant, pr.ModelVersion = p.tag, "own-"+p.tag
	return pr, err
}
func (p taggedPredictor) Version() string { return "own-" + p.tag }

// flipSource is a ModelSource that serves another version at every
// snapshot and records, through its clock, which version each time stamp
// was taken under — and whether a snapshot was held at all.
type flipSource struct {
	mu       sync.Mutex
	versions [2]*matchapp.Loaded
	n        int
	held     *matchapp.Loaded // the snapshot held now, nil when none
	tick     time.Time
	stamped  map[time.Time]string // time stamp → version held when it was taken
	outside  int                  // time stamps taken with no snapshot held
}

func newFlipSource() *flipSource {
	s := &flipSource{tick: fixedNow, stamped: map[time.Time]string{}}
	for i, tag := range []string{"a", "b"} {
		s.versions[i] = &matchapp.Loaded{Version: "version-" + tag, Model: taggedPredictor{newTablePredictor(), tag}, Since: fixedNow}
	}
	return s
}

func (s *flipSource) Snapshot() (*matchapp.Loaded, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.versions[s.n%2]
	s.n++
	s.held = v
	return v, func() {
		s.mu.Lock()
		s.held = nil
		s.mu.Unlock()
	}
}

func (s *flipSource) Alias() string { return "champion" }

// now is the app's clock: every call a nanosecond later, noting the
// version held.
func (s *flipSource) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick = s.tick.Add(time.Nanosecond)
	if s.held == nil {
		s.outside++
	} else {
		s.stamped[s.tick] = s.held.Version
	}
	return s.tick
}

// TestPredictionUsesOneSnapshot: a prediction's server time is stamped
// while its snapshot of the model is held, and that one version makes the
// prediction and labels the answer (body and X-Model-Version, API and
// form) and the log entry — the source here changes version at every
// snapshot, so any second look at it would show.
func TestPredictionUsesOneSnapshot(t *testing.T) {
	src := newFlipSource()
	rec := &memRecorder{}
	app := newApp(t, matchapp.Config{Models: src, Recorder: rec, Now: src.now})
	for i := range 6 {
		var version, header string
		if i%2 == 0 {
			w := postJSON(t, app, `{"home":"Argentina","away":"France"}`)
			var body struct {
				ModelVersion string    `json:"model_version"`
				Variant      string    `json:"variant"`
				ServerTime   time.Time `json:"server_time"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 {
				t.Fatalf("%d %s %v", w.Code, w.Body, err)
			}
			version, header = body.ModelVersion, w.Header().Get(matchapp.ModelVersionHeader)
			if body.Variant != strings.TrimPrefix(version, "version-") {
				t.Errorf("answer labelled %s was made by model %s", version, body.Variant)
			}
		} else {
			w := do(t, app, "POST", "/predict", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"home": {"Japan"}, "away": {"Brazil"}}.Encode()))
			if w.Code != 200 {
				t.Fatalf("form: %d %s", w.Code, w.Body)
			}
			header = w.Header().Get(matchapp.ModelVersionHeader)
			version = header
			if !strings.Contains(w.Body.String(), "model "+version+" ("+strings.TrimPrefix(version, "version-")+")") {
				t.Errorf("result page does not name model %s:\n%s", version, w.Body)
			}
		}
		if header != version {
			t.Errorf("%s %q, answer's model_version %q", matchapp.ModelVersionHeader, header, version)
		}
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.outside != 0 {
		t.Errorf("%d predictions stamped their server time outside their model snapshot", src.outside)
	}
	for _, e := range rec.all() {
		held, ok := src.stamped[e.ServerTime]
		switch {
		case !ok:
			t.Errorf("logged server time %v is no time stamp the app took", e.ServerTime)
		case e.ModelVersion != held:
			t.Errorf("entry at %v logged as %s, stamped while %s was held", e.ServerTime, e.ModelVersion, held)
		case e.Variant != strings.TrimPrefix(held, "version-"):
			t.Errorf("entry logged as %s was predicted by model %s", e.ModelVersion, e.Variant)
		}
	}
	if len(rec.all()) != 6 {
		t.Errorf("%d entries logged, want 6", len(rec.all()))
	}
}

// tagModel writes a model directory holding its tag, for a registry.
func tagModel(t *testing.T, tag string) string {
	dir := filepath.Join(t.TempDir(), tag)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tag"), []byte(tag), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// loadTagged "loads" a tagModel directory; tag "broken" does not load.
func loadTagged(dir string) (matchwinner.Predictor, error) {
	b, err := os.ReadFile(filepath.Join(dir, "tag"))
	if err != nil {
		return nil, err
	}
	if string(b) == "broken" {
		return nil, errors.New("this model does not load")
	}
	return taggedPredictor{newTablePredictor(), string(b)}, nil
}

// TestServingByAlias: the app following registry:matches@champion answers
// with the registry version id (body, header, log), and /healthz, /metrics
// and the dashboard show the version serving, its alias and since when —
// before and after a promotion, and after a version that fails to load.
func TestServingByAlias(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := registry.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ids := map[string]string{}
	for _, tag := range []string{"a", "b", "broken"} {
		v, _, err := r.Register(ctx, tagModel(t, tag), registry.Version{Model: "matches"})
		if err != nil {
			t.Fatal(err)
		}
		ids[tag] = v.ID
	}
	if _, _, err := r.Promote(ctx, "matches", "champion", ids["a"], registry.PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	metrics := serve.NewRegistry()
	mm := serve.NewModelMetrics(metrics, "matches", "champion")
	f, err := registry.Follow(ctx, r, "matches", "champion", loadTagged, registry.FollowOptions{
		Interval: time.Hour, CacheDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnSwap: mm.OnSwap, OnError: mm.OnError})
	if err != nil {
		t.Fatal(err)
	}
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	w := predlog.NewWriter(l, predlog.WriterOptions{})
	defer w.Close(context.Background())
	app := newApp(t, matchapp.Config{Models: f, Recorder: w, Usage: l, Metrics: metrics, Now: time.Now})

	check := func(tag string, swaps int) {
		t.Helper()
		id := ids[tag]
		a := postJSON(t, app, `{"home":"Argentina","away":"France"}`)
		if got := a.Header().Get(matchapp.ModelVersionHeader); a.Code != 200 || got != id || !strings.Contains(a.Body.String(), `"model_version":"`+id+`","variant":"`+tag+`"`) {
			t.Errorf("answer: %d %s %s; want version %s (%s)", a.Code, got, a.Body, id, tag)
		}
		var h struct {
			ModelVersion string    `json:"model_version"`
			Alias        string    `json:"alias"`
			Since        time.Time `json:"since"`
		}
		hw := do(t, app, "GET", "/healthz", "", nil)
		if err := json.Unmarshal(hw.Body.Bytes(), &h); err != nil || h.ModelVersion != id || h.Alias != "champion" || !h.Since.Equal(f.Current().Since) {
			t.Errorf("healthz %s (%v); want version %s, alias champion, since %v", hw.Body, err, id, f.Current().Since)
		}
		if v := metricValue(t, app, `datalab_model_info{alias="champion",app="matches",version="`+registry.Short(id)+`"}`); v != 1 {
			t.Errorf("datalab_model_info of %s: %v, want 1", tag, v)
		}
		if v := metricValue(t, app, `datalab_model_swaps_total{app="matches"}`); v != float64(swaps) {
			t.Errorf("datalab_model_swaps_total %v, want %d", v, swaps)
		}
		page := do(t, app, "GET", "/dashboard", "", nil).Body.String()
		if want := `<p id="serving">Serving model version <code>` + id + `</code> (registry alias champion) since ` +
			f.Current().Since.UTC().Format("2006-01-02 15:04:05") + ` UTC.</p>`; !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	check("a", 0)
	if _, _, err := r.Promote(ctx, "matches", "champion", ids["b"], registry.PromoteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err != nil {
		t.Fatal(err)
	}
	check("b", 1)
	// Only the version serving is in datalab_model_info.
	if v := metricValue(t, app, `datalab_model_info{alias="champion",app="matches",version="`+registry.Short(ids["a"])+`"}`); v != -1 {
		t.Errorf("the old version is still in datalab_model_info: %v", v)
	}
	if _, _, err := r.Promote(ctx, "matches", "champion", ids["broken"], registry.PromoteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err != nil {
		t.Fatal(err)
	}
	check("b", 1)
	if v := metricValue(t, app, `datalab_model_swap_failures_total{app="matches"}`); v != 1 {
		t.Errorf("datalab_model_swap_failures_total %v, want 1", v)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	es, err := l.Recent(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[0].ModelVersion != ids["b"] || es[0].Variant != "b" || es[2].ModelVersion != ids["a"] || es[2].Variant != "a" {
		t.Errorf("logged %+v", es)
	}
}
