// Package testmirror locates the offline mirror of the data sets for tests.
// The mirror is named by DATALAB_MIRROR (the Makefile sets it); without it the
// conventional ../shared/data beside the repository is tried. Under CI
// (CI=true) a missing mirror fails the test instead of skipping it, so CI can
// never pass by silently skipping the tests on real data.
package testmirror

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// Dir returns the mirror directory, or skips (fails under CI) when absent.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("DATALAB_MIRROR"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		t.Fatalf("DATALAB_MIRROR=%s is not a directory", d)
	}
	d := filepath.Join(RepoRoot(), "..", "shared", "data")
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("data mirror not found: set DATALAB_MIRROR or put shared/ beside the repository")
	}
	t.Skip("data mirror not found (set DATALAB_MIRROR)")
	return ""
}

// Path joins rel onto the mirror directory.
func Path(t testing.TB, rel ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Dir(t)}, rel...)...)
}

// modulePath is this repository's module, as go.mod declares it.
const modulePath = "github.com/datalabhq/datalab"

var (
	rootOnce sync.Once
	root     string
)

// RepoRoot is the repository root (the directory holding the go.mod of
// github.com/datalabhq/datalab), found from the working directory up: go test
// runs a package's tests in its directory. It does not rely on the source
// paths compiled into the binary, which -trimpath (make test builds with it)
// removes. It panics outside the repository.
func RepoRoot() string {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err == nil {
			root, err = findRoot(dir)
		}
		if err != nil {
			panic("testmirror: " + err.Error())
		}
	})
	return root
}

// findRoot is the nearest directory at or above dir whose go.mod declares
// this module.
func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if declaresModule(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of %s in %s or above: run the tests from the repository", modulePath, dir)
		}
	}
}

// declaresModule reports whether the go.mod file at path is this module's.
func declaresModule(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`) == modulePath
		}
	}
	return false
}

// CommittedParams decodes params.<key> of the repository's datalab.yaml
// into dst (then validates it when dst has a Validate method): the
// configuration the pipeline trains with, for tests that train the same
// way.
func CommittedParams(key string, dst any) error {
	path := filepath.Join(RepoRoot(), "datalab.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc struct {
		Params map[string]yaml.Node `yaml:"params"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	n, ok := doc.Params[key]
	if !ok {
		return fmt.Errorf("%s has no params.%s", path, key)
	}
	if err := n.Decode(dst); err != nil {
		return fmt.Errorf("%s: params.%s: %w", path, key, err)
	}
	if v, ok := dst.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}
