package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testtree"
)

// recordDirSyncs makes syncDir record the directories it syncs (and still
// sync them) for the rest of the test.
func recordDirSyncs(t *testing.T) *[]string {
	t.Helper()
	var synced []string
	real := syncDir
	syncDir = func(d *os.File) error {
		st, err := d.Stat()
		if err != nil || !st.IsDir() {
			t.Errorf("syncDir called on %s, which is not a directory (%v)", d.Name(), err)
		}
		synced = append(synced, d.Name())
		return real(d)
	}
	t.Cleanup(func() { syncDir = real })
	return &synced
}

// sameDir reports whether a and b are the same directory (os.Root names
// files by their path inside the root, so compare inodes).
func sameDir(t *testing.T, a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// TestCommitSyncsParentDir: after the rename the destination's directory is
// synced, or a crash can lose the rename although the data was synced
// (issue 12, finding 10).
func TestCommitSyncsParentDir(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(root string) (dir string, err error)
	}{
		{"WriteFile", func(root string) (string, error) {
			return filepath.Join(root, "sub"), WriteFile(filepath.Join(root, "sub", "out.txt"), []byte("x"))
		}},
		{"WriteFileIn", func(root string) (string, error) {
			return filepath.Join(root, "a", "b"), WriteFileIn(root, filepath.Join("a", "b", "out.txt"), []byte("x"))
		}},
		{"ReplaceDir", func(root string) (string, error) {
			dir := filepath.Join(root, "models", "m")
			tmp, err := TempDirBeside(dir, "tmp")
			if err != nil {
				return "", err
			}
			return filepath.Join(root, "models"), ReplaceDir(tmp, dir)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synced := recordDirSyncs(t)
			root := t.TempDir()
			dir, err := tc.write(root)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, name := range *synced {
				// os.Root reports names relative to the root it opened; resolve
				// both spellings against the destination's directory.
				if sameDir(t, name, dir) || sameDir(t, filepath.Join(dir, name), dir) || name == "." {
					found = true
				}
			}
			if !found {
				t.Errorf("directory syncs %q: want %s synced after the rename", *synced, dir)
			}
		})
	}
}

// TestWriteInRefusesLinksOut: below dir, a symlinked directory that leads
// out of it is refused and nothing is written outside; a
// symlinked final file is replaced by the new file, its target untouched.
func TestWriteInRefusesLinksOut(t *testing.T) {
	repo, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(repo, "linkdir")); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(outside, "victim.txt")
	if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(repo, "linkfile")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"linkdir/x.txt", "linkdir/new/sub/x.txt", "../x.txt", "/etc/x.txt"} {
		err := WriteFileIn(repo, name, []byte("mine"))
		if err == nil {
			t.Errorf("WriteFileIn(%s): no error, want a refusal", name)
			continue
		}
		if !strings.Contains(err.Error(), repo) {
			t.Errorf("WriteFileIn(%s) = %v: want the error to name the repository %s", name, err, repo)
		}
		if strings.HasPrefix(name, "linkdir") && !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("WriteFileIn(%s) = %v: want it to say a symbolic link leads out", name, err)
		}
	}
	if got := names(t, outside); !slices.Equal(got, []string{"victim.txt"}) {
		t.Errorf("written outside the root: %v", got)
	}

	if err := WriteFileIn(repo, "linkfile", []byte("mine")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "theirs" {
		t.Errorf("the link's target became %q: written through the link", b)
	}
	if st, err := os.Lstat(filepath.Join(repo, "linkfile")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("linkfile is %v, %v: want a regular file in place of the link", st.Mode(), err)
	}

	// A failed write inside the root leaves nothing behind.
	boom := errors.New("boom")
	if err := WriteIn(repo, "d/out", func(w io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("WriteIn = %v, want boom", err)
	}
	if got := names(t, filepath.Join(repo, "d")); len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
}

// TestRelativePathsStayInWorkingDir: the CLI runs from the repository root
// and names its outputs relative to it (build/…, reports/…, datalab.lock),
// so a relative path is written inside the working directory: a symlinked
// directory on the way that leads out of it is refused, for files
// (WriteFile) and whole directories (TempDirBeside, ReplaceDir).
func TestRelativePathsStayInWorkingDir(t *testing.T) {
	repo, outside := t.TempDir(), t.TempDir()
	t.Chdir(repo)
	if err := os.Symlink(outside, "build"); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile("build/parquet/x.parquet", []byte("x")); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("WriteFile through a link out: %v, want a refusal naming the symbolic link", err)
	}
	if tmp, err := TempDirBeside("build/models/m", "tmp"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("TempDirBeside through a link out: %q, %v, want a refusal naming the symbolic link", tmp, err)
	}
	if err := os.Mkdir(filepath.Join(outside, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(outside, "models", ".m.tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceDir(tmp, "build/models/m"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("ReplaceDir through a link out: %v, want a refusal naming the symbolic link", err)
	}
	if got := testtree.List(t, outside); !slices.Equal(got, []string{"models", "models/.m.tmp"}) {
		t.Errorf("written outside the working directory: %v", got)
	}
	// Inside, relative paths work as before.
	if err := WriteFile("reports/index.html", []byte("ok")); err != nil {
		t.Fatal(err)
	}
}
