package fakecloud

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BootRun is what a boot script did on a fake machine.
type BootRun struct {
	// Output is the script's stdout and stderr.
	Output string
	// Err is bash's exit error, nil when the script succeeded.
	Err error
	// Dir is the boot directory the script was given (DATALAB_BOOT_DIR),
	// Root the machine's directory (pass it to RunBoot again to reboot).
	Dir, Root string
	// Docker holds the arguments of each docker call, one string each.
	Docker []string
	// DockerEnv holds the DATALAB_* and POSTGRES_* variables the (last)
	// docker call saw (DATALAB_BOOT_DIR aside); unset ones are absent.
	DockerEnv map[string]string
}

// RunBoot runs a boot script with bash on this machine, with every command
// in stubs (name → bash body, arguments in "$@") shadowing the real one on
// PATH, and docker always replaced by a recorder. The machine is the
// directory root ("" = a new temporary one; the same root again is a
// reboot): its boot directory is root/boot. Real coreutils (sed, tr,
// base64, tar, od) do the script's work.
func RunBoot(t *testing.T, root, script string, stubs map[string]string) BootRun {
	t.Helper()
	if root == "" {
		root = t.TempDir()
	}
	bin, dir, rec := filepath.Join(root, "bin"), filepath.Join(root, "boot"), filepath.Join(root, "rec")
	for _, d := range []string{bin, rec} {
		os.RemoveAll(d)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	all := map[string]string{
		"docker": `printf '%s\n' "$*" >> "$REC/docker.args"
env | grep -E '^(DATALAB_|POSTGRES_)' | grep -v '^DATALAB_BOOT_DIR=' > "$REC/docker.env" || true`,
	}
	for name, body := range stubs {
		all[name] = body
	}
	for name, body := range all {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = []string{
		"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin",
		"DATALAB_BOOT_DIR=" + dir,
		"REC=" + rec,
		"HOME=" + root,
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	run := BootRun{Err: cmd.Run(), Dir: dir, DockerEnv: map[string]string{}, Root: root}
	run.Output = out.String()
	if b, err := os.ReadFile(filepath.Join(rec, "docker.args")); err == nil {
		run.Docker = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	if b, err := os.ReadFile(filepath.Join(rec, "docker.env")); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				run.DockerEnv[k] = v
			}
		}
	}
	return run
}
