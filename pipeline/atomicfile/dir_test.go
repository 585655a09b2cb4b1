package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fill writes name → content files into dir.
func fill(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// names lists the entries of dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestTempDirBeside(t *testing.T) {
	for _, tc := range []struct{ name, dir string }{
		{"plain", "models/form3"},
		{"trailing slash", "models/form3/"},
		{"parent missing", "deep/er/models/form3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, tc.dir)
			if strings.HasSuffix(tc.dir, "/") {
				dir += "/"
			}
			tmp, err := TempDirBeside(dir, "download")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := filepath.Dir(tmp), filepath.Dir(filepath.Clean(dir)); got != want {
				t.Errorf("temporary directory in %s, want beside the destination in %s", got, want)
			}
			if base := filepath.Base(tmp); !strings.HasPrefix(base, ".form3.download-") {
				t.Errorf("temporary directory named %s, want .form3.download-*", base)
			}
			if got := names(t, tmp); len(got) != 0 {
				t.Errorf("temporary directory not empty: %v", got)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the destination was created: %v", err)
			}
		})
	}
}

func TestReplaceDirCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out", "model")
	tmp, err := TempDirBeside(dir, "tmp")
	if err != nil {
		t.Fatal(err)
	}
	fill(t, tmp, map[string]string{"a": "new"})
	if err := ReplaceDir(tmp, dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a")); string(got) != "new" {
		t.Errorf("a = %q, want %q", got, "new")
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", st.Mode().Perm())
	}
	if got := names(t, filepath.Dir(dir)); !slices.Equal(got, []string{"model"}) {
		t.Errorf("beside the destination: %v, want only model", got)
	}
}

func TestReplaceDirReplaces(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fill(t, dir, map[string]string{"a": "old", "gone": "old"})
	tmp, err := TempDirBeside(dir, "tmp")
	if err != nil {
		t.Fatal(err)
	}
	fill(t, tmp, map[string]string{"a": "new", "b": "new"})
	if err := ReplaceDir(tmp, dir); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("files %v, want [a b]: the old directory's files must go", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a")); string(got) != "new" {
		t.Errorf("a = %q, want %q", got, "new")
	}
	if got := names(t, filepath.Dir(dir)); !slices.Equal(got, []string{"model"}) {
		t.Errorf("left beside the destination: %v", got)
	}
}

func TestReplaceDirFailureKeepsOld(t *testing.T) {
	t.Run("tmp missing", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "model")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		fill(t, dir, map[string]string{"a": "old"})
		err := ReplaceDir(filepath.Join(root, ".model.tmp-missing"), dir)
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Fatalf("err = %v, want an error naming %s", err, dir)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "a")); string(got) != "old" {
			t.Errorf("a = %q after the failure, want %q", got, "old")
		}
		if got := names(t, root); !slices.Equal(got, []string{"model"}) {
			t.Errorf("left beside the destination: %v", got)
		}
	})
	t.Run("rename fails after moving aside", func(t *testing.T) {
		// A directory cannot be renamed into its own subtree (EINVAL, even
		// for root), so with dir inside tmp the old dir is moved aside and
		// the rename of tmp then fails: the old dir must come back.
		tmp := filepath.Join(t.TempDir(), ".model.tmp-1")
		dir := filepath.Join(tmp, "model")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		fill(t, dir, map[string]string{"a": "old"})
		err := ReplaceDir(tmp, dir)
		if err == nil || !strings.Contains(err.Error(), "rename into "+dir) {
			t.Fatalf("err = %v, want a failed rename into %s", err, dir)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "a")); string(got) != "old" {
			t.Errorf("a = %q after the failure, want the old directory back", got)
		}
		if _, err := os.Stat(tmp + ".old"); !os.IsNotExist(err) {
			t.Errorf("the old directory is still aside: %v", err)
		}
	})
}

// ExampleReplaceDir publishes a directory whole: readers of out see the
// previous complete version until the new one is renamed into place.
func ExampleReplaceDir() {
	root, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(root)
	out := filepath.Join(root, "model")

	tmp, err := TempDirBeside(out, "tmp")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(tmp) // a no-op once published
	os.WriteFile(filepath.Join(tmp, "metadata"), []byte("v2"), 0o644)
	if err := ReplaceDir(tmp, out); err != nil {
		fmt.Println(err)
		return
	}
	b, _ := os.ReadFile(filepath.Join(out, "metadata"))
	fmt.Println(string(b))
	// Output: v2
}
