//go:build unix

package notebook

import (
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestKillKernels: a kernel is found by its connection file under the
// runtime directory only when it leads its own session (as Jupyter starts
// kernels), and killKernels ends its whole session, the children it left
// behind included; a process of another session naming the directory is
// neither a kernel nor killed.
func TestKillKernels(t *testing.T) {
	rt := filepath.Join(t.TempDir(), "runtime")
	conn := filepath.Join(rt, "kernel-1.json")
	start := func(attr *syscall.SysProcAttr) *exec.Cmd {
		// A kernel and a child of it (as gopls is GoNB's).
		cmd := exec.Command("sh", "-c", "sleep 300 & wait", conn)
		cmd.SysProcAttr = attr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		})
		return cmd
	}
	other := start(&syscall.SysProcAttr{Setpgid: true}) // this test's session
	kernel := start(&syscall.SysProcAttr{Setsid: true})
	var sessions []int
	for range 100 { // until sh has started its child
		sessions = kernelSessions(rt)
		if len(sessionMembers(sessions)) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Equal(sessions, []int{kernel.Process.Pid}) {
		t.Fatalf("kernel sessions %v, want [%d] (not this test's session)", sessions, kernel.Process.Pid)
	}
	if n := len(sessionMembers(sessions)); n != 2 {
		t.Fatalf("kernel session has %d processes, want the kernel and its child", n)
	}
	killKernels(sessions)
	if left := sessionMembers(sessions); len(left) > 0 {
		t.Errorf("processes %v of the kernel session still run", left)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the process outside the kernel session was killed: %v", err)
	}
}
