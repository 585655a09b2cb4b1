package repocheck

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
)

// unlinked are import-path prefixes the datalab binary must not link, and
// why.
var unlinked = map[string]string{
	// git-lfs's packages start git (git version, git rev-parse --git-dir,
	// git remote, …) from their package initialisation, so every datalab
	// process, each pipeline stage included, paid for 3–5 git processes
	// before main ran; and they brought 77 packages (24 of their own) into
	// the binary. The pointer format datalab needs is package
	// pipeline/lfspointer.
	"github.com/git-lfs/": "its init starts git processes in every datalab process; read and write pointers with pipeline/lfspointer",
}

// TestCLIDoesNotLinkGitLFS lists the packages linked into cmd/datalab
// (`go list -deps`) and fails on any under an [unlinked] prefix. It checks
// the import graph rather than running the CLI under strace: the graph says
// why a process would start git, holds on every platform and needs no build
// of the 186 MB binary.
func TestCLIDoesNotLinkGitLFS(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("no go command: %v", err)
	}
	cmd := exec.Command(goCmd, "list", "-deps", "./cmd/datalab")
	cmd.Dir = testmirror.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/datalab: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps ./cmd/datalab lists only %d packages", len(deps))
	}
	for prefix, why := range unlinked {
		var linked []string
		for _, pkg := range deps {
			if strings.HasPrefix(pkg, prefix) {
				linked = append(linked, pkg)
			}
		}
		if len(linked) > 0 {
			t.Errorf("cmd/datalab links %d packages under %s: %s (`go mod why %s` says through which import)\n%s",
				len(linked), prefix, why, linked[0], strings.Join(linked, "\n"))
		}
	}
}
