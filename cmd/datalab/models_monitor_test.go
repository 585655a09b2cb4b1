package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightmonitor"
	"github.com/datalabhq/datalab/flights/flightmonitor/flightmonitortest"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/flightstore/storetest"
	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchmonitor"
	"github.com/datalabhq/datalab/matches/matchmonitor/matchmonitortest"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// monitorWorkspace lays out what `datalab monitor` reads in a pipeline's
// directory: datalab.yaml, the data sets' pointer files, and the build
// outputs links name (relative path → a trained fixture's file or
// directory); and a registry
// in reg/ holding the model directory modelDir of model, with the lineage
// of the pointer files of sets, as champion. It returns the directory and
// the version id.
func monitorWorkspace(t *testing.T, model, modelDir string, links map[string]string, sets ...string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	repo := testmirror.RepoRoot()
	yaml, err := os.ReadFile(filepath.Join(repo, "datalab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	testtree.WriteFile(t, filepath.Join(dir, "datalab.yaml"), yaml)
	var pointers []string
	for _, set := range sets {
		files, err := filepath.Glob(filepath.Join(repo, "data", "pointers", set, "*.pointer"))
		if err != nil || len(files) == 0 {
			t.Fatalf("pointer files of %s: %v", set, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "data", "pointers", set, filepath.Base(f))
			testtree.WriteFile(t, p, b)
			pointers = append(pointers, p)
		}
	}
	for rel, target := range links {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		// Files are linked; directories (models, hashed by walking them)
		// are copied.
		if fi, err := os.Stat(target); err == nil && fi.IsDir() {
			err = os.CopyFS(p, os.DirFS(target))
		} else if err == nil {
			err = os.Symlink(target, p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	oids, err := stagerun.PointerOids(pointers)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := registry.Open(ctx, filepath.Join(dir, "reg"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	v, _, err := reg.Register(ctx, modelDir, registry.Version{Model: model, Variant: filepath.Base(modelDir),
		Lineage: registry.Lineage{Commit: strings.Repeat("1", 40), DataOids: oids}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Promote(ctx, model, registry.DefaultAlias, v.ID, registry.PromoteOptions{By: "test"}); err != nil {
		t.Fatal(err)
	}
	return dir, v.ID
}

// monitorReport is the part of monitor-<model>.json the tests read.
type monitorReport struct {
	Verdict    string `json:"verdict"`
	ExitStatus int    `json:"exit_status"`
	Target     struct {
		Version    string            `json:"version"`
		Rows       int               `json:"rows"`
		Registered *registry.Version `json:"registered"`
		Notes      []string          `json:"notes"`
	} `json:"target"`
	Notes []string `json:"notes"`
	Drift struct {
		CurrentRows int `json:"current_rows"`
		Features    []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"features"`
		Prediction struct {
			Status string `json:"status"`
		} `json:"prediction"`
	} `json:"drift"`
}

// readMonitorReport reads the JSON the command wrote into out.
func readMonitorReport(t *testing.T, out, model string) monitorReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "monitor-"+model+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r monitorReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// flagged lists the features (and "predicted class") that are not ok.
func (r monitorReport) flagged() []string {
	var out []string
	for _, f := range r.Drift.Features {
		if f.Status != "ok" {
			out = append(out, f.Name+" "+f.Status)
		}
	}
	if r.Drift.Prediction.Status != "ok" {
		out = append(out, "predicted class "+r.Drift.Prediction.Status)
	}
	return out
}

// TestMonitorMatches runs `datalab monitor matches` on a SQLite prediction
// log of the champion's requests: drawn from the training matches (exit 0,
// ok), with elo_diff shifted (exit 1, elo_diff only), with local data that
// is not the version's (exit 2 unless --reference-data), a window without
// requests (exit 0, too few rows), and requests of a model served from a
// directory (judged as the local model, said in the report); the page is
// opened in Chromium.
func TestMonitorMatches(t *testing.T) {
	t.Parallel()
	bin := buildDatalab(t)
	fix := matchmonitortest.Train(t)
	dir, version := monitorWorkspace(t, matchmonitor.Model, fix.ModelDir, map[string]string{
		matchmodel.DefaultFeatures: fix.Features,
		filepath.Join(matchmodel.DefaultModelsDir, filepath.Base(fix.ModelDir)): fix.ModelDir,
	}, matchmonitor.DataSets...)
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	db := filepath.Join(dir, "build", "predictions.sqlite")
	l, err := predlog.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	m := fix.Model
	var entries []predlog.Entry
	entries = append(entries, matchmonitortest.Traffic(t, m, fix.Training, version, 3000, 1, t0.Add(-24*time.Hour), 24*time.Hour, nil)...)
	entries = append(entries, matchmonitortest.Traffic(t, m, fix.Training, version, 3000, 2, t0, 24*time.Hour, func(e *predlog.Entry) { e.Features["elo_diff"] += 150 })...)
	// A few requests of another version in the clean window: noted, not judged.
	entries = append(entries, matchmonitortest.Traffic(t, m, fix.Training, "0123456789abcdef", 10, 3, t0.Add(-time.Hour), time.Hour, nil)...)
	// A week later, the model served from its directory (its own version).
	entries = append(entries, matchmonitortest.Traffic(t, m, fix.Training, m.Version(), 2000, 4, t0.Add(7*24*time.Hour), 24*time.Hour, nil)...)
	if err := l.Insert(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	l.Close()
	env := []string{"DATALAB_REGISTRY=" + filepath.Join(dir, "reg"), "DATALAB_MODEL_CACHE=" + filepath.Join(dir, "cache"), "DATALAB_DB=" + db}
	run := func(wantCode int, until time.Time, args ...string) string {
		t.Helper()
		args = append([]string{"monitor", "matches", "--until", until.Format(time.RFC3339)}, args...)
		out, code := datalabCmd(t, bin, dir, env, args...)
		if code != wantCode {
			t.Fatalf("datalab %s: exit %d, want %d\n%s", strings.Join(args, " "), code, wantCode, out)
		}
		return out
	}

	out := run(0, t0)
	r := readMonitorReport(t, filepath.Join(dir, "build", "monitor", "matches"), "matches")
	if r.Verdict != "ok" || r.ExitStatus != 0 || r.Target.Version != version || r.Target.Registered == nil || r.Drift.CurrentRows != 3000 {
		t.Errorf("drawn from the training data: verdict %s, version %s, %d rows\n%s", r.Verdict, r.Target.Version, r.Drift.CurrentRows, out)
	}
	notes := strings.Join(append(r.Target.Notes, r.Notes...), " ")
	for _, want := range []string{"answered the most requests", "0123456789ab (10)", "is what version " + registry.Short(version) + " was trained on"} {
		if !strings.Contains(notes, want) {
			t.Errorf("the report's notes lack %q: %s", want, notes)
		}
	}
	for _, want := range []string{"ok: 3000 current rows", "wrote build/monitor/matches/monitor-matches.html and build/monitor/matches/monitor-matches.json"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	shiftedOut := filepath.Join(dir, "shifted")
	out = run(1, t0.Add(24*time.Hour), "--out", shiftedOut, "--version", "@champion")
	r = readMonitorReport(t, shiftedOut, "matches")
	if got := r.flagged(); len(got) != 1 || got[0] != "elo_diff drift" || r.ExitStatus != 1 {
		t.Errorf("elo_diff shifted: flagged %v, exit status %d\n%s", got, r.ExitStatus, out)
	}
	if !strings.Contains(out, "alert: elo_diff: PSI") {
		t.Errorf("no alert line:\n%s", out)
	}
	t.Run("page in chromium", func(t *testing.T) { checkMonitorPage(t, shiftedOut, "matches", "elo_diff") })

	// A lower alert threshold turns the clean window's noise into drift;
	// too many rows required turns it into too few rows.
	run(1, t0, "--psi-alert", "0.0001", "--psi-warn", "0.00001", "--out", filepath.Join(dir, "strict"))
	run(0, t0, "--min-rows", "5000", "--out", filepath.Join(dir, "few"))
	if r := readMonitorReport(t, filepath.Join(dir, "few"), "matches"); r.Verdict != "too_few_rows" {
		t.Errorf("--min-rows 5000 with 3000 requests: %s", r.Verdict)
	}
	// A window without requests: too few rows to judge, exit 0.
	run(0, t0.Add(-72*time.Hour), "--version", "@champion", "--out", filepath.Join(dir, "empty"))
	if r := readMonitorReport(t, filepath.Join(dir, "empty"), "matches"); r.Verdict != "too_few_rows" || r.Target.Version != version {
		t.Errorf("empty window: %s, version %s", r.Verdict, r.Target.Version)
	}
	// The model served from its directory: judged as the local model.
	run(0, t0.Add(8*24*time.Hour), "--out", filepath.Join(dir, "local"))
	r = readMonitorReport(t, filepath.Join(dir, "local"), "matches")
	if r.Verdict != "ok" || r.Target.Version != m.Version() || r.Target.Registered != nil || !strings.Contains(strings.Join(r.Target.Notes, " "), "not a version of matches in the model registry") {
		t.Errorf("local model: %+v", r)
	}

	// Local data that is not the version's: refused (exit 2) with what to
	// do, unless --reference-data says which data to compare with.
	pointer := filepath.Join(dir, "data", "pointers", "matches", "international_matches.csv.pointer")
	b, err := os.ReadFile(pointer)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "oid sha256:") + len("oid sha256:")
	other := byte('0')
	if b[i] == '0' {
		other = '1'
	}
	testtree.WriteFile(t, pointer, string(b[:i])+string(other)+string(b[i+1:]))
	out = run(2, t0)
	if !strings.Contains(out, "not what version "+registry.Short(version)+" was trained on") || !strings.Contains(out, "--reference-data") {
		t.Errorf("other local data:\n%s", out)
	}
	out = run(1, t0.Add(24*time.Hour), "--reference-data", matchmodel.DefaultFeatures, "--out", filepath.Join(dir, "override"))
	if r := readMonitorReport(t, filepath.Join(dir, "override"), "matches"); !strings.Contains(strings.Join(r.Notes, " "), "--reference-data") {
		t.Errorf("--reference-data not in the notes: %v\n%s", r.Notes, out)
	}
	// Errors exit 2: an unknown version, an unknown use case.
	if out := run(2, t0, "--version", "@nosuch"); !strings.Contains(out, "nosuch") {
		t.Errorf("unknown alias:\n%s", out)
	}
	if out, code := datalabCmd(t, bin, dir, env, "monitor", "cars"); code != 2 || !strings.Contains(out, "monitor matches or monitor flights") {
		t.Errorf("unknown use case: exit %d\n%s", code, out)
	}
	// A log that does not exist is not created.
	missing := filepath.Join(dir, "no-such.sqlite")
	if out := run(2, t0, "--db", missing); !strings.Contains(out, "does not exist: nothing to monitor") {
		t.Errorf("missing log:\n%s", out)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("monitor created the missing log")
	}
}

// checkMonitorPage opens monitor-<model>.html from out in Chromium: the
// verdict is drift, the feature table has a row per feature and the
// predicted class with the shifted feature's status drift, and the page
// runs no script.
func checkMonitorPage(t *testing.T, out, model, shifted string) {
	srv := httptest.NewServer(http.FileServer(http.Dir(out)))
	defer srv.Close()
	b := browsertest.New(t, 60*time.Second)
	b.Do(t, chromedp.Navigate(srv.URL+"/monitor-"+model+".html"))
	verdict := browsertest.Get(t, b, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("p")).map(p => p.textContent).find(s => s.startsWith("Verdict:")) || ""`))
	if !strings.HasPrefix(verdict, "Verdict: drift.") || !strings.Contains(verdict, "drift in "+shifted) {
		t.Errorf("verdict paragraph %q", verdict)
	}
	rows := browsertest.Get(t, b, chromedp.Evaluate[[][]string](`(() => {
		const t = Array.from(document.querySelectorAll("table")).find(t => t.caption && t.caption.textContent.startsWith("Features:"));
		return t ? Array.from(t.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.textContent)) : [];
	})()`))
	r := readMonitorReport(t, out, model)
	if len(rows) != len(r.Drift.Features)+1 {
		t.Fatalf("feature table has %d rows, want %d features and the predicted class", len(rows), len(r.Drift.Features))
	}
	for i, row := range rows {
		name, status := row[0], row[2]
		want := "ok"
		if name == shifted {
			want = "drift"
		}
		if i == len(rows)-1 && name != "predicted class" || status != want {
			t.Errorf("feature table row %d: %s %s, want %s", i, name, status, want)
		}
	}
	if n := browsertest.Get(t, b, chromedp.Evaluate[int](`document.scripts.length`)); n != 0 {
		t.Errorf("the page has %d scripts", n)
	}
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// TestMonitorFlights runs `datalab monitor flights` on a SQLite flight
// store of the champion's predictions: drawn from the training split (exit
// 0, ok) and with DepDelay 45 minutes later (exit 1, DepDelay only).
func TestMonitorFlights(t *testing.T) {
	t.Parallel()
	bin := buildDatalab(t)
	fix := flightmonitortest.Train(t)
	dir, version := monitorWorkspace(t, flightmonitor.Model, fix.ModelDir, map[string]string{
		filepath.Join("build", "parquet", filepath.Base(fix.Variant.Data)):       fix.Variant.Data,
		filepath.Join("build", "models", "flights", filepath.Base(fix.ModelDir)): fix.ModelDir,
	}, flightmonitor.DataSet(fix.Variant))
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	clock := storetest.NewClock(t0.Add(-24 * time.Hour))
	storePath := filepath.Join(dir, "flights.sqlite")
	st, err := sqlstore.Open(context.Background(), storePath, sqlstore.WithPolicy(flightstore.Policy{AcceptUnissued: true, Now: clock.Now, CleanupEvery: -1}))
	if err != nil {
		t.Fatal(err)
	}
	store := func(docs []flightdelay.Prediction) {
		t.Helper()
		for start := 0; start < len(docs); start += 500 {
			if err := st.Upsert(context.Background(), docs[start:min(start+500, len(docs))]...); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Hour)
		}
	}
	store(flightmonitortest.Traffic(t, fix, fix.Scorer, version, 3000, 1, nil))
	clock.Set(t0)
	store(flightmonitortest.Traffic(t, fix, fix.Scorer, version, 3000, 2, func(p *flightdelay.Prediction) { p.DepDelay += 45 }))
	st.Close()
	env := []string{"DATALAB_REGISTRY=" + filepath.Join(dir, "reg"), "DATALAB_MODEL_CACHE=" + filepath.Join(dir, "cache"), "DATALAB_FLIGHT_STORE=" + storePath}
	for _, c := range []struct {
		until    time.Time
		code     int
		verdict  string
		flagged  string
		rowsWant int
	}{
		{t0, 0, "ok", "", 3000},
		{t0.Add(24 * time.Hour), 1, "drift", "DepDelay drift", 3000},
	} {
		out, code := datalabCmd(t, bin, dir, env, "monitor", "flights", "--until", c.until.Format(time.RFC3339))
		if code != c.code {
			t.Fatalf("until %s: exit %d, want %d\n%s", c.until, code, c.code, out)
		}
		r := readMonitorReport(t, filepath.Join(dir, "build", "monitor", "flights"), "flights")
		if r.Verdict != c.verdict || strings.Join(r.flagged(), ", ") != c.flagged || r.Target.Version != version || r.Target.Registered == nil || r.Drift.CurrentRows != c.rowsWant {
			t.Errorf("until %s: verdict %s, flagged %v, version %s, %d rows\n%s", c.until, r.Verdict, r.flagged(), r.Target.Version, r.Drift.CurrentRows, out)
		}
		if notes := strings.Join(r.Notes, " "); !strings.Contains(notes, "is what version") {
			t.Errorf("the data check is not in the notes: %s", notes)
		}
		if !strings.Contains(out, "wrote build/monitor/flights/monitor-flights.html and build/monitor/flights/monitor-flights.json") {
			t.Errorf("output:\n%s", out)
		}
	}
}
