package sparkml

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDir copies a fixture directory tree into a fresh temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func onlyPart(t *testing.T, dir string) string {
	t.Helper()
	parts, err := partFiles(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	return parts[0]
}

// TestCorruptFixtures damages copies of the 3.3.3 fixture and checks that
// loading fails with an error naming the damaged file and the problem.
func TestCorruptFixtures(t *testing.T) {
	src := fixture(t, "flight-delay-spark-3.3.3")
	rf := "spark_random_forest_classifier.flight_delays.5.0.bin"
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the damaged path
		want   string
	}{
		{"truncated node table", func(t *testing.T, dir string) string {
			p := onlyPart(t, filepath.Join(dir, rf, "data"))
			truncate(t, p, 0.5)
			return p
		}, "truncated parquet file"},
		{"node table cut to the header", func(t *testing.T, dir string) string {
			p := onlyPart(t, filepath.Join(dir, rf, "data"))
			truncate(t, p, 0)
			return p
		}, "truncated parquet file"},
		{"damaged node table footer", func(t *testing.T, dir string) string {
			p := onlyPart(t, filepath.Join(dir, rf, "data"))
			flip(t, p, -40)
			return p
		}, "corrupt parquet file"},
		{"damaged node table page", func(t *testing.T, dir string) string {
			p := onlyPart(t, filepath.Join(dir, rf, "data"))
			flip(t, p, 200)
			return p
		}, ""},
		{"truncated trees metadata", func(t *testing.T, dir string) string {
			p := onlyPart(t, filepath.Join(dir, rf, "treesMetadata"))
			truncate(t, p, 0.7)
			return p
		}, "truncated parquet file"},
		{"truncated forest metadata", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, rf, "metadata", "part-00000")
			truncate(t, p, 0.5)
			return p
		}, "corrupt stage metadata"},
		{"empty indexer metadata", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "string_indexer_model_Route.bin", "metadata", "part-00000")
			truncate(t, p, 0)
			return p
		}, "stage metadata is empty"},
		{"truncated indexer labels", func(t *testing.T, dir string) string {
			p := onlyPart(t, filepath.Join(dir, "string_indexer_model_Origin.bin", "data"))
			truncate(t, p, 0.6)
			return p
		}, "truncated parquet file"},
		{"missing node table", func(t *testing.T, dir string) string {
			p := onlyPart(t, filepath.Join(dir, rf, "data"))
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, rf, "data")
		}, "no part-*.parquet files"},
		{"numClasses disagrees with the node table", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, rf, "metadata", "part-00000")
			replaceIn(t, p, `"numClasses":4`, `"numClasses":3`)
			return onlyPart(t, filepath.Join(dir, rf, "data"))
		}, "want numClasses = 3"},
		{"numTrees disagrees with the trees metadata", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, rf, "metadata", "part-00000")
			replaceIn(t, p, `"numFeatures":9,"numClasses":4,"numTrees":20`, `"numFeatures":9,"numClasses":4,"numTrees":19`)
			return onlyPart(t, filepath.Join(dir, rf, "treesMetadata"))
		}, "out of range for 19 trees"},
		{"bucketizer splits not increasing", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "arrival_bucketizer_2.0.bin", "metadata", "part-00000")
			replaceIn(t, p, `-15.0,0.0`, `0.0,-15.0`)
			return p
		}, "strictly increasing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, src)
			damaged := c.damage(t, dir)
			p, err := LoadPipeline(dir)
			if err == nil {
				t.Fatalf("loaded a damaged model (%d trees)", len(p.Model.Trees))
			}
			if !strings.Contains(err.Error(), damaged) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\nwant it to name %s and say %q", err, damaged, c.want)
			}
		})
	}
}

func truncate(t *testing.T, path string, frac float64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data[:int(float64(len(data))*frac)], 0o644); err != nil {
		t.Fatal(err)
	}
}

// flip inverts 16 bytes at offset off (negative: from the end).
func flip(t *testing.T, path string, off int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += len(data)
	}
	for i := off; i < off+16 && i < len(data)-8; i++ {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
