//go:build unix

package stagerun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// killGroupOnCancel starts the command in its own process group and, when
// the context is cancelled, signals the whole group: a stage's shell and
// every process it started stop together (Ctrl-C, SIGTERM from a scheduler).
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	// A shell that ignores SIGTERM is killed after this.
	cmd.WaitDelay = 10 * time.Second
}

// lockRoot takes an exclusive lock on <root>/.datalab/run.lock so that two
// runs (a manual `datalab run` and `datalab watch`) never interleave on the
// same lock file and outputs. The lock dies with the process.
func lockRoot(root string) (release func(), err error) {
	dir := filepath.Join(root, ".datalab")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "run.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open run lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another datalab run is in progress in %s (wait for it, or stop it)", root)
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// datalabOnPath makes a directory holding a symbolic link named datalab to
// exe, for the front of the stages' PATH: a binary built under another
// name (go build -o dl) or run by `go run` is still what `datalab …` in a
// stage command runs. cleanup removes the directory.
func datalabOnPath(exe string) (dir string, cleanup func(), err error) {
	abs, err := filepath.Abs(exe)
	if err != nil {
		return "", nil, fmt.Errorf("locate the datalab binary %s: %w", exe, err)
	}
	dir, err = os.MkdirTemp("", "datalab-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("put datalab on the stages' PATH: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	if err := os.Symlink(abs, filepath.Join(dir, "datalab")); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("put datalab on the stages' PATH: %w", err)
	}
	return dir, cleanup, nil
}
