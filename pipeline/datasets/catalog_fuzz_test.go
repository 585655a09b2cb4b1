package datasets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
)

// FuzzParseCatalog: whatever catalog.yaml says, a catalog that parses keeps
// every working file, pointer file and mirror path inside its directory (a
// catalog from a pull request must not make `datalab data pull` write or
// read outside data/ or the mirror), and a rejected one gets an error that
// names the file.
func FuzzParseCatalog(f *testing.F) {
	real, err := os.ReadFile(filepath.Join(testmirror.RepoRoot(), "data", CatalogFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add([]byte("sets:\n  - name: a\n    format: csv\n    files:\n      - path: x/y.csv\n        mirror: m/y.csv\n"))
	f.Add([]byte("sets:\n  - name: a\n    format: csv\n    files:\n      - path: ../../etc/passwd\n"))
	f.Add([]byte("sets:\n  - &a {name: a, format: csv}\n  - *a\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		dataDir := filepath.Join("/datalab", "data")
		c, err := parseCatalog(raw, dataDir, "catalog.yaml")
		if err != nil {
			if !strings.Contains(err.Error(), "catalog.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		inside := func(what, p, root string) {
			rel, err := filepath.Rel(root, p)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
				t.Fatalf("%s %q escapes %s", what, p, root)
			}
		}
		for _, s := range c.Sets {
			for _, fl := range s.Files {
				inside("working file", s.WorkingPath(fl), dataDir)
				inside("pointer file", s.PointerPath(fl), dataDir)
				inside("mirror path", filepath.Join("/mirror", filepath.FromSlash(fl.Mirror)), "/mirror")
			}
		}
	})
}
