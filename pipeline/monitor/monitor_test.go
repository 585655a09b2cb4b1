package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/report"
)

// fakeRegistry holds versions by id; @champion is champ.
type fakeRegistry struct {
	versions map[string]registry.Version
	champ    string
}

func (f fakeRegistry) Version(_ context.Context, model, ref string) (registry.Version, error) {
	if ref == "@champion" {
		ref = f.champ
	}
	if v, ok := f.versions[ref]; ok {
		return v, nil
	}
	return registry.Version{}, fmt.Errorf("model %s has no version %s: %w", model, ref, registry.ErrNotFound)
}

func (f fakeRegistry) Fetch(context.Context, string, string, string) (string, error) {
	return "", errors.New("not here")
}

var (
	idA = strings.Repeat("a", 64)
	idB = strings.Repeat("b", 64)
)

func TestChoose(t *testing.T) {
	ctx := context.Background()
	reg := fakeRegistry{versions: map[string]registry.Version{idA: {ID: idA}, idB: {ID: idB}}, champ: idB}
	served := []Served{{idA, 700}, {"0123456789abcdef", 300}, {idB, 700}}
	// Most rows wins, ties by the smaller name; other versions noted.
	got, err := Choose(ctx, reg, "matches", served, "")
	if err != nil || got.Version != idA || got.Rows != 700 || got.Registered == nil || got.Registered.ID != idA {
		t.Fatalf("most served: %+v, %v", got, err)
	}
	if n := strings.Join(got.Notes, " "); !strings.Contains(n, "other versions") || !strings.Contains(n, registry.Short(idB)+" (700)") || !strings.Contains(n, "0123456789ab (300)") {
		t.Errorf("notes %q", n)
	}
	// A version that is not a registry id: judged as a local model, said so.
	got, err = Choose(ctx, reg, "matches", []Served{{"0123456789abcdef", 5}}, "")
	if err != nil || got.Registered != nil || !strings.Contains(strings.Join(got.Notes, " "), "not a version of matches in the model registry") {
		t.Errorf("unregistered: %+v, %v", got, err)
	}
	// A registry-shaped id the registry does not hold, and no registry at all.
	if got, err = Choose(ctx, reg, "matches", []Served{{strings.Repeat("c", 64), 5}}, ""); err != nil || got.Registered != nil {
		t.Errorf("unknown id: %+v, %v", got, err)
	}
	if got, err = Choose(ctx, nil, "matches", served, ""); err != nil || got.Registered != nil || got.Version != idA {
		t.Errorf("no registry: %+v, %v", got, err)
	}
	// --version: through the registry, rows of the window counted.
	if got, err = Choose(ctx, reg, "matches", served, "@champion"); err != nil || got.Version != idB || got.Rows != 700 || got.Registered == nil {
		t.Errorf("@champion: %+v, %v", got, err)
	}
	if _, err = Choose(ctx, nil, "matches", served, "@champion"); err == nil || !strings.Contains(err.Error(), "no registry") {
		t.Errorf("--version without a registry: %v", err)
	}
	if _, err = Choose(ctx, reg, "matches", served, "@nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown --version: %v", err)
	}
	// No requests.
	if got, err = Choose(ctx, reg, "matches", nil, ""); err != nil || got.Version != "" || !strings.Contains(got.Notes[0], "No requests") {
		t.Errorf("empty window: %+v, %v", got, err)
	}
}

func TestCheckData(t *testing.T) {
	root := t.TempDir()
	pointer := func(oid string) string {
		return "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 12\n"
	}
	oidA, oidB := strings.Repeat("1", 64), strings.Repeat("2", 64)
	testtree.Write(t, root, map[string]string{
		"data/pointers/matches/international_matches.csv.pointer": pointer(oidA),
		"data/pointers/other/x.csv.pointer":                       pointer(oidB),
	})
	// Keys as a run record has them (the pointer file's path) and as
	// register without a record has them.
	v := registry.Version{ID: idA, Lineage: registry.Lineage{Commit: strings.Repeat("c", 40), DataOids: map[string]string{
		"data/pointers/matches/international_matches.csv.pointer": oidA, "other/x.csv": "sha256:" + oidA}}}
	note, err := CheckData(v, root, "matches")
	if err != nil || !strings.Contains(note, "is what version "+registry.Short(idA)+" was trained on") || !strings.Contains(note, "matches/international_matches.csv sha256:111111111111") {
		t.Errorf("same data: %q, %v", note, err)
	}
	if _, err := CheckData(v, root, "matches", "other"); err == nil || !strings.Contains(err.Error(), "other/x.csv is sha256:222222222222 here, sha256:111111111111 in the version's lineage") ||
		!strings.Contains(err.Error(), "--reference-data") || !strings.Contains(err.Error(), "cccccccccccc") {
		t.Errorf("other data: %v", err)
	}
	os.Remove(filepath.Join(root, "data/pointers/matches/international_matches.csv.pointer"))
	if _, err := CheckData(v, root, "matches"); err == nil || !strings.Contains(err.Error(), "has no pointer file here") {
		t.Errorf("missing pointer: %v", err)
	}
	note, err = CheckData(registry.Version{ID: idB}, root, "matches")
	if err != nil || !strings.Contains(note, "records no data oids") {
		t.Errorf("no lineage: %q, %v", note, err)
	}
}

// TestReportWrite: the page (with its sidecar) and the JSON, whose head
// says the verdict, the exit status and the alerts.
func TestReportWrite(t *testing.T) {
	ref := drift.Sample{Columns: []drift.Column{drift.NumericColumn("x", seq(2000, 0))}, Predicted: repeat("a", 2000)}
	cur := drift.Sample{Columns: []drift.Column{drift.NumericColumn("x", seq(2000, 5000))}, Predicted: repeat("a", 2000)}
	res, err := drift.Compare(ref, cur, drift.Options{})
	if err != nil {
		t.Fatal(err)
	}
	until := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	rep := &Report{Target: Target{Model: "matches", Version: idA, Rows: 2000, Notes: []string{"Chosen."}}, Window: Last(24*time.Hour, until),
		Reference: "The training rows.", Notes: []string{"Checked."}, Result: res}
	dir := filepath.Join(t.TempDir(), "out")
	page, data, err := rep.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if page != filepath.Join(dir, "monitor-matches.html") || data != filepath.Join(dir, "monitor-matches.json") {
		t.Errorf("paths %s %s", page, data)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>Drift: matches aaaaaaaaaaaa</title>",
		"Model matches, version " + idA + ": 2000 requests served in 2026-12-06 10:00:00 – 2026-12-07 10:00:00 UTC (24h0m0s).",
		"<p>The training rows.</p>", "<p>Chosen.</p>", "<p>Checked.</p>", "Verdict: drift."} {
		if !strings.Contains(string(html), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if _, err := report.ReadSidecar(report.SidecarPath(page)); err != nil {
		t.Error(err)
	}
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Verdict    string   `json:"verdict"`
		ExitStatus int      `json:"exit_status"`
		Alerts     []string `json:"alerts"`
		Target     Target   `json:"target"`
		Window     Window   `json:"window"`
		Drift      struct {
			Verdict  string `json:"verdict"`
			Features []struct {
				Name string `json:"name"`
			} `json:"features"`
		} `json:"drift"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Verdict != "drift" || doc.ExitStatus != ExitDrift || len(doc.Alerts) == 0 || doc.Target.Version != idA || !doc.Window.Until.Equal(until) ||
		doc.Drift.Verdict != "drift" || doc.Drift.Features[0].Name != "x" {
		t.Errorf("JSON: %s", b)
	}
	if !strings.HasPrefix(string(b), "{\n  \"verdict\": \"drift\",\n  \"exit_status\": 1,\n  \"alerts\": [") {
		t.Errorf("JSON does not start with the verdict:\n%.200s", b)
	}
	again, _ := rep.JSON()
	if string(again) != string(b) {
		t.Error("the JSON is not the same bytes twice")
	}
}

func TestExitCode(t *testing.T) {
	for s, want := range map[drift.Status]int{drift.StatusOK: 0, drift.StatusWarn: 0, drift.StatusTooFewRows: 0, drift.StatusDrift: 1} {
		if got := ExitCode(&drift.Result{Verdict: s}); got != want {
			t.Errorf("ExitCode(%s) = %d, want %d", s, got, want)
		}
	}
}

func seq(n int, from float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = from + float64(i)
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
