package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/ops/image"
)

// TestImageCommand: `datalab image` from the repository root writes the OCI
// layout and the docker tarball and prints a digest per image; with the same
// commit, version and SOURCE_DATE_EPOCH a second run prints the same
// digests.
func TestImageCommand(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds datalab and compresses it (~10 s)")
	}
	bin := buildDatalab(t)
	commit := strings.Repeat("0123456789", 4) // outside the repository: taken with SOURCE_DATE_EPOCH
	run := func(out string) string {
		t.Helper()
		stdout, code := datalabCmd(t, bin, testmirror.RepoRoot(), []string{"SOURCE_DATE_EPOCH=1700000000"},
			"image", "--log-level", "warn", "--out", out, "--version", "cli-test", "--commit", commit)
		if code != 0 {
			t.Fatalf("datalab image: exit %d\n%s", code, stdout)
		}
		return stdout
	}
	dir := t.TempDir()
	first := run(filepath.Join(dir, "a"))
	t.Log("\n" + first)
	for _, want := range []string{
		"commit " + commit + ", created 2023-11-14T22:13:20Z, version cli-test",
		"datalab/serve:cli-test", "datalab/predictor:cli-test", "datalab/pipeline:cli-test",
		"docker load -i " + filepath.Join(dir, "a", image.DockerTarball),
	} {
		if !strings.Contains(first, want) {
			t.Errorf("output lacks %q:\n%s", want, first)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^(index|serve|predictor|pipeline) +sha256:[0-9a-f]{64} `).FindAllString(first, -1)); n != 4 {
		t.Errorf("%d digest lines, want 4:\n%s", n, first)
	}
	for _, p := range []string{filepath.Join(image.LayoutDir, "index.json"), filepath.Join(image.LayoutDir, "oci-layout"), image.DockerTarball} {
		if _, err := os.Stat(filepath.Join(dir, "a", p)); err != nil {
			t.Error(err)
		}
	}
	second := run(filepath.Join(dir, "b"))
	digest := regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	if !slices.Equal(digest.FindAllString(first, -1), digest.FindAllString(second, -1)) {
		t.Errorf("second run printed other digests:\n%s\n%s", first, second)
	}
}
