package testtree

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{
		"metadata/part-00000":      `{"class":"x"}`,
		"stages/0_idx/data/empty":  "",
		"stages/0_idx/data/binary": "PAR1\x00\xff",
	}
	for rel, content := range want {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := Read(t, dir); !maps.Equal(got, want) {
		t.Fatalf("Read = %q, want %q", got, want)
	}
}

func TestReadEmpty(t *testing.T) {
	if got := Read(t, t.TempDir()); len(got) != 0 {
		t.Fatalf("Read of an empty directory = %q", got)
	}
}
