package testtree

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{
		"metadata/part-00000":      `{"class":"x"}`,
		"stages/0_idx/data/empty":  "",
		"stages/0_idx/data/binary": "PAR1\x00\xff",
	}
	Write(t, dir, want)
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

func TestList(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "f"), nil, 0o644)
	os.Symlink(t.TempDir(), filepath.Join(dir, "link"))
	got := List(t, dir)
	if want := []string{"a", "a/b", "a/b/f", "link"}; !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if got := List(t, t.TempDir()); len(got) != 0 {
		t.Errorf("List of an empty directory = %q", got)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, filepath.Join(dir, "a", "b", "text"), "hello")
	WriteFile(t, filepath.Join(dir, "a", "bytes"), []byte("PAR1\x00"))
	WriteFile(t, filepath.Join(dir, "a", "bytes"), []byte("again")) // replaced
	want := map[string]string{"a/b/text": "hello", "a/bytes": "again"}
	if got := Read(t, dir); !maps.Equal(got, want) {
		t.Fatalf("Read = %q, want %q", got, want)
	}
}
