//go:build !unix

package notebook

import "os/exec"

// Without process groups and /proc, the server is stopped by killing it,
// and kernels it could not shut down are left to the system.

func ownProcessGroup(cmd *exec.Cmd) {}

func terminate(cmd *exec.Cmd) { cmd.Process.Kill() }

func killGroup(cmd *exec.Cmd) { cmd.Process.Kill() }

func kernelSessions(runtimeDir string) []int { return nil }

func killKernels(sessions []int) {}
