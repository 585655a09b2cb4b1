package datasets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testtree"
)

// linkedRepo is a repository with a data catalog declaring one set, tiny,
// of one file sub/a.txt that the default object store (and a mirror) hold
// but that is not materialised, and a directory outside the repository.
func linkedRepo(t *testing.T) (c *Catalog, repo, mirror, outside string) {
	t.Helper()
	repo, outside, mirror = t.TempDir(), t.TempDir(), t.TempDir()
	c, err := OpenOrNew(filepath.Join(repo, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSet(SetInfo{Name: "tiny", Format: "text"}); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(mirror, "tiny", "a.txt")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add("tiny", "sub/a.txt", src, AddOptions{Mirror: "tiny/a.txt"}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(repo, "data", "tiny")); err != nil {
		t.Fatal(err)
	}
	return c, repo, mirror, outside
}

// TestPullRefusesLinksOutOfTheRepo: `datalab data pull` writes only inside
// the repository: a symlinked directory in the data tree (or the object
// store) that points outside makes the write fail with a message saying so,
// and a symlinked final file is refused; nothing is written outside (issue
// 12, finding 2: path checks were lexical, only the final file was Lstat'ed).
func TestPullRefusesLinksOutOfTheRepo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		link    string // made a symlink to the outside directory (or file)
		toFile  bool   // link to a file outside instead of the directory
		wantMsg string
	}{
		{"set directory", "data/tiny", false, "symbolic link"},
		{"subdirectory", "data/tiny/sub", false, "symbolic link"},
		{"final file", "data/tiny/sub/a.txt", true, "not a regular file"},
		{"object store", ".datalab/lfs", false, "symbolic link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, repo, mirror, outside := linkedRepo(t)
			if tc.link == ".datalab/lfs" {
				// The object must come from the mirror and be stored again.
				if err := os.RemoveAll(filepath.Join(repo, ".datalab")); err != nil {
					t.Fatal(err)
				}
			}
			link := filepath.Join(repo, filepath.FromSlash(tc.link))
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			target := outside
			if tc.toFile {
				target = filepath.Join(outside, "victim.txt")
				if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			before := testtree.List(t, outside)

			for _, force := range []bool{false, true} {
				_, err := c.Pull(context.Background(), []string{"tiny"}, PullOptions{Mirror: mirror, NoOrigin: true, Force: force})
				if err == nil {
					t.Fatalf("pull (force %v) through %s: no error", force, tc.link)
				}
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("pull (force %v) through %s: %v; want a message containing %q", force, tc.link, err, tc.wantMsg)
				}
			}
			if got := testtree.List(t, outside); strings.Join(got, ",") != strings.Join(before, ",") {
				t.Errorf("written outside the repository: %v (before: %v)", got, before)
			}
			if tc.toFile {
				if b, _ := os.ReadFile(target); string(b) != "theirs" {
					t.Errorf("the link's target became %q", b)
				}
			}
		})
	}
}

// TestAddRefusesLinksOutOfTheRepo: `datalab data add` materialises and
// writes pointers only inside the data directory.
func TestAddRefusesLinksOutOfTheRepo(t *testing.T) {
	for _, link := range []string{"data/tiny", "data/pointers"} {
		t.Run(link, func(t *testing.T) {
			c, repo, mirror, outside := linkedRepo(t)
			os.RemoveAll(filepath.Join(repo, filepath.FromSlash(link)))
			if err := os.Symlink(outside, filepath.Join(repo, filepath.FromSlash(link))); err != nil {
				t.Fatal(err)
			}
			src := filepath.Join(mirror, "tiny", "a.txt")
			_, err := c.Add("tiny", "b.txt", src, AddOptions{})
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("add through %s: %v; want a refusal naming the symbolic link", link, err)
			}
			if got := testtree.List(t, outside); len(got) != 0 {
				t.Errorf("written outside the repository: %v", got)
			}
		})
	}
}
