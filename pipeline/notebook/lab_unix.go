//go:build unix

package notebook

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ownProcessGroup starts the server in a process group of its own, so a
// Ctrl-C in the terminal reaches only datalab lab, which stops the server
// with SIGTERM (notebook 6 answers a terminal's SIGINT with a y/n prompt).
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func terminate(cmd *exec.Cmd) { cmd.Process.Signal(syscall.SIGTERM) }

// killGroup kills the server and whatever it started in its group.
func killGroup(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

// proc is a process as /proc shows it.
type proc struct {
	pid, session int
	zombie       bool
	cmdline      []byte
}

// procs lists the processes in /proc; none where there is no /proc.
func procs() []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp session …; comm may hold spaces and ")".
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 4 {
			continue
		}
		session, _ := strconv.Atoi(f[3])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, proc{pid: pid, session: session, zombie: f[0] == "Z", cmdline: cmdline})
	}
	return out
}

// kernelSessions are the sessions of the server's kernels: Jupyter starts
// each kernel as the leader of a new session with its connection file
// (runtimeDir/kernel-<id>.json) on its command line. GoNB's gopls and the
// compiled cells are in that session.
func kernelSessions(runtimeDir string) []int {
	needle := []byte(runtimeDir + string(filepath.Separator))
	var sessions []int
	for _, p := range procs() {
		// Only session leaders: a process that names the directory but runs in
		// another session (this one, the terminal's) must not take it down.
		if p.pid == p.session && bytes.Contains(p.cmdline, needle) && !slices.Contains(sessions, p.session) {
			sessions = append(sessions, p.session)
		}
	}
	return sessions
}

// sessionMembers are the live processes of the given sessions.
func sessionMembers(sessions []int) []int {
	var pids []int
	for _, p := range procs() {
		if !p.zombie && p.pid != os.Getpid() && slices.Contains(sessions, p.session) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// killKernels stops what is left of the kernel sessions once the server is
// gone (it was killed, or a kernel or its gopls ignored the shutdown):
// SIGTERM, then SIGKILL to whatever is still there after 5 seconds.
func killKernels(sessions []int) {
	pids := sessionMembers(sessions)
	if len(pids) == 0 {
		return
	}
	slog.Warn("kernel processes still running after the server stopped; terminating them", "pids", pids)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(sessionMembers(sessions)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, pid := range sessionMembers(sessions) {
		slog.Warn("killing kernel process", "pid", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
