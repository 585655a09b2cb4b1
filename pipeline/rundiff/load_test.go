package rundiff

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// writeRecord writes rec as dir/<id>/run.json, as stagerun does.
func writeRecord(t *testing.T, dir string, rec *stagerun.RunRecord) {
	t.Helper()
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, rec.ID), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rec.ID, RecordName), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeRecord(t, dir, baseRecord())
	writeRecord(t, dir, headRecord())
	// A run still going has its directory and logs but no run.json yet.
	if err := os.MkdirAll(filepath.Join(dir, "20261207T120000Z-cccccc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a run"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != headRecord().ID || runs[1].ID != baseRecord().ID {
		t.Fatalf("Load: want head, base newest first; got %d runs", len(runs))
	}
	// What was written and read back compares equal to the original.
	if d := Compare(runs[1], baseRecord(), Options{}); !d.Empty() {
		t.Errorf("a record read from disk differs from the one written: %s", d.Summary())
	}

	// A published copy (reports/runs) of the same run is listed once.
	published := t.TempDir()
	writeRecord(t, published, baseRecord())
	old := baseRecord()
	old.ID, old.Start = "20261201T090000Z-dddddd", old.Start.Add(-6*24*time.Hour)
	writeRecord(t, published, old)
	all, err := LoadDirs([]string{dir, filepath.Join(dir, "missing"), published}, true)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range all {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "20261207T110000Z-bbbbbb,20261207T100000Z-aaaaaa,20261201T090000Z-dddddd" {
		t.Errorf("LoadDirs: %v", ids)
	}
	if _, err := LoadDirs([]string{filepath.Join(dir, "missing")}, false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing directory given explicitly: %v", err)
	}

	// A corrupt run.json is an error naming the file.
	bad := filepath.Join(dir, "20261207T130000Z-eeeeee", RecordName)
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"id": "20261207T130000Z-eeeeee", "start": `), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt run.json: %v", err)
	}
	if err := os.WriteFile(bad, []byte(`{"pipeline": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no id") {
		t.Errorf("run.json without id: %v", err)
	}
}

func TestResolve(t *testing.T) {
	mk := func(id, exp, commit string, start int) *stagerun.RunRecord {
		return &stagerun.RunRecord{ID: id, Experiment: exp, Git: stagerun.GitState{Commit: commit},
			Start: time.Date(2026, 12, 7, start, 0, 0, 0, time.UTC)}
	}
	runs := []*stagerun.RunRecord{
		mk("20261207T120000Z-333333", "depth-12", "cccc", 12),
		mk("20261207T110000Z-222222", "depth-8", "bbbb", 11),
		mk("20261207T100000Z-111111", "depth-12", "aaaa", 10),
		mk("20261206T100000Z-000000", "", "aaaa", 9),
	}
	SortNewestFirst(runs)
	ok := map[string]string{
		"20261207T110000Z-222222": "20261207T110000Z-222222",
		"latest":                  "20261207T120000Z-333333",
		"latest~0":                "20261207T120000Z-333333",
		"latest~3":                "20261206T100000Z-000000",
		"depth-12":                "20261207T120000Z-333333", // the newest of the experiment
		"depth-8":                 "20261207T110000Z-222222",
		"commit:aaaa":             "20261207T100000Z-111111",
		"commit:BBB":              "20261207T110000Z-222222",
		"20261206":                "20261206T100000Z-000000",
		"20261207T10":             "20261207T100000Z-111111",
		" latest ":                "20261207T120000Z-333333",
	}
	for ref, want := range ok {
		r, err := Resolve(runs, ref)
		if err != nil || r.ID != want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", ref, r, err, want)
		}
	}
	bad := map[string]string{
		"2026120":      "ambiguous: 4 runs start with it",
		"20261207T1":   "ambiguous: 3 runs",
		"nope":         "not found",
		"latest~4":     "only 4 run(s) recorded",
		"latest~x":     "want latest~N",
		"commit:ffff":  "no run started from a commit beginning with ffff",
		"commit:":      "give a commit",
		"":             "empty run reference",
		"depth-1":      "not found",
		"latest~-1":    "want latest~N",
		"20261207T13Z": "not found",
	}
	for ref, want := range bad {
		_, err := Resolve(runs, ref)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(%q) = %v; want an error saying %q", ref, err, want)
		}
	}
	_, err := Resolve(runs, "20261207T1")
	for _, id := range []string{"20261207T120000Z-333333 (depth-12)", "20261207T110000Z-222222 (depth-8)", "20261207T100000Z-111111"} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("ambiguity error does not list candidate %s: %v", id, err)
		}
	}
	if _, err := Resolve(nil, "latest"); err == nil || !strings.Contains(err.Error(), "no runs recorded yet") {
		t.Errorf("no runs: %v", err)
	}
}

func TestFindByPath(t *testing.T) {
	dir := t.TempDir()
	writeRecord(t, dir, baseRecord())
	for _, ref := range []string{filepath.Join(dir, baseRecord().ID), filepath.Join(dir, baseRecord().ID, RecordName)} {
		r, err := Find(nil, ref)
		if err != nil || r.ID != baseRecord().ID {
			t.Errorf("Find(%s) = %v, %v", ref, r, err)
		}
	}
	if _, err := Find(nil, filepath.Join(dir, "none", RecordName)); err == nil {
		t.Error("Find of a missing path must fail")
	}
}
