package notebook_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/notebook"
)

// TestMatchesExplore runs the real notebook on matches ingested from the
// mirror, sampled to keep it quick.
func TestMatchesExplore(t *testing.T) {
	root := needKernel(t)
	dir := t.TempDir()
	mp := filepath.Join(dir, "matches.parquet")
	ds, _ := ingest.Lookup("matches")
	if _, err := ingest.Run(context.Background(), ds, ingest.Config{
		Inputs: []string{testmirror.Path(t, "matches", "international_matches.csv")}, Output: mp}); err != nil {
		t.Fatal(err)
	}
	r := notebook.Runner{Root: root, OutDir: filepath.Join(dir, "out"),
		Params: map[string]string{"matches": mp, "sample": "5000"}}
	res, err := r.Run(t.Context(), filepath.Join(root, "notebooks", "matches-explore.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("matches-explore rendered in %v", res.Duration)
	page, err := os.ReadFile(res.HTML)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"5000 matches, 1993-08-08", "<svg", "home win rate", "<td>neutral</td>", "<td>1993</td>"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("rendered notebook lacks %q", want)
		}
	}
}

