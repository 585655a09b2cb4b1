//go:build !unix

package stagerun

import "os/exec"

// killGroupOnCancel kills the shell on cancellation; process groups are a
// unix notion, so children of the shell may outlive it here.
func killGroupOnCancel(cmd *exec.Cmd) {}

// lockRoot does not guard against concurrent runs outside unix.
func lockRoot(root string) (release func(), err error) { return func() {}, nil }

// datalabOnPath adds nothing outside unix (links need privileges on
// Windows): stages find the binary by its directory on PATH, so it must be
// called datalab there.
func datalabOnPath(exe string) (dir string, cleanup func(), err error) { return "", func() {}, nil }
