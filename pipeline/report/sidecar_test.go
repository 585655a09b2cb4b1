package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadSidecarAs: one reader serves Sidecar and types embedding it
// (notebook.Sidecar), and a malformed file says what to do.
func TestReadSidecarAs(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "x.report.json")
	if err := os.WriteFile(good, []byte(`{"kind":"notebook","title":"T","html":"x.html","extra":[1,2]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	type withExtra struct {
		Sidecar
		Extra []int `json:"extra"`
	}
	s, err := ReadSidecarAs[withExtra](good)
	if err != nil || s.Title != "T" || s.HTML != "x.html" || len(s.Extra) != 2 {
		t.Errorf("ReadSidecarAs = %+v, %v", s, err)
	}
	bad := filepath.Join(dir, "bad.report.json")
	if err := os.WriteFile(bad, []byte(`{"title":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSidecar(bad); err == nil || !strings.Contains(err.Error(), "delete it or re-run") {
		t.Errorf("malformed sidecar: err = %v", err)
	}
}
