package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/datasets"
)

// runData runs `datalab data …` in-process with fresh flag values and
// returns stdout and the error.
func runData(t *testing.T, args ...string) (string, error) {
	t.Helper()
	pullFlags.force, pullFlags.noOrigin, pullFlags.mirror = false, false, ""
	statusFlags.check, statusFlags.json = false, false
	addFlags = struct{ set, url, mirrorPath, license, format, schema, description, origin string }{}
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(append([]string{"data", "--log-level", "warn"}, args...))
	err := rootCmd.ExecuteContext(context.Background())
	return out.String(), err
}

// cleanClone copies the committed catalog and pointers, as a fresh clone
// has them, into a temporary data directory.
func cleanClone(t *testing.T) (dataDir, store string) {
	t.Helper()
	src := filepath.Join(testmirror.RepoRoot(), "data")
	root := t.TempDir()
	dataDir = filepath.Join(root, "data")
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || (e.Name() != datasets.CatalogFile && !strings.HasSuffix(e.Name(), datasets.PointerSuffix)) {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		os.MkdirAll(filepath.Join(dataDir, filepath.Dir(rel)), 0o755)
		return os.WriteFile(filepath.Join(dataDir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dataDir, filepath.Join(root, ".datalab", "lfs", "objects")
}

func TestDataPullStatusCLI(t *testing.T) {
	mirror := testmirror.Dir(t)
	dataDir, store := cleanClone(t)
	common := []string{"--data-dir", dataDir, "--store", store}

	out, err := runData(t, append([]string{"status", "--check"}, common...)...)
	if err == nil || !strings.Contains(err.Error(), "datalab data pull") || !strings.Contains(out, "missing 1/1") {
		t.Fatalf("status on a clean clone: %v\n%s", err, out)
	}
	out, err = runData(t, append([]string{"pull", "--mirror", mirror, "--no-origin"}, common...)...)
	if err != nil || !strings.Contains(out, "114 files present") {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	out, err = runData(t, append([]string{"status", "--check"}, common...)...)
	if err != nil || strings.Count(out, "present\n") != 11 {
		t.Fatalf("status after pull: %v\n%s", err, out)
	}

	// A tampered byte in a working file: status says modified, pull refuses.
	wp := filepath.Join(dataDir, "bts2017", "flights_sample.csv")
	b, _ := os.ReadFile(wp)
	b[1000] ^= 0x20
	os.WriteFile(wp, b, 0o644)
	out, err = runData(t, append([]string{"status", "--check"}, common...)...)
	if err == nil || !strings.Contains(out, "modified 1/3") || !strings.Contains(out, "modified: "+wp) {
		t.Fatalf("status after tampering: %v\n%s", err, out)
	}
	out, err = runData(t, append([]string{"status", "--json", "bts2017"}, common...)...)
	var sets []datasets.SetStatus
	if err != nil || json.Unmarshal([]byte(out), &sets) != nil || len(sets) != 1 || sets[0].State != datasets.StateModified {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	_, err = runData(t, append([]string{"pull", "bts2017", "--no-origin"}, common...)...)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("pull over a modified file: %v", err)
	}
	out, err = runData(t, append([]string{"pull", "bts2017", "--no-origin", "--force"}, common...)...)
	if err != nil || !strings.Contains(out, "1 from the store") {
		t.Fatalf("forced pull: %v\n%s", err, out)
	}

	// add: a new file in a new set, then the catalog still opens. The
	// declaration rules (format guess, merging into an existing set, the
	// errors) are tested where they live: pipeline/datasets TestDeclare.
	newFile := filepath.Join(dataDir, "odds", "odds.csv")
	os.MkdirAll(filepath.Dir(newFile), 0o755)
	os.WriteFile(newFile, []byte("match,home,draw,away\n1,1.5,3.2,5.0\n"), 0o644)
	out, err = runData(t, append([]string{"add", newFile, "--schema", "odds-v1", "--license", "CC0-1.0", "--url", "https://example.org/odds.csv"}, common...)...)
	if err != nil || !strings.Contains(out, "odds.csv.pointer") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	cat, err := datasets.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cat.Set("odds")
	if err != nil || s.Format != "csv" || s.Schema != "odds-v1" || s.License != "CC0-1.0" || len(s.Files) != 1 {
		t.Fatalf("added set: %+v %v", s, err)
	}
}
