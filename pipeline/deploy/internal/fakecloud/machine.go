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
	// Dir is the boot directory the script was given (DATALAB_BOOT_DIR).
	Dir string
	// Docker holds the arguments of each docker call, one string each.
	Docker []string
	// DockerEnv holds DATALAB_DB and DATALAB_HTTP_PORT as the (last)
	// docker call saw them; a variable that was not set is absent.
	DockerEnv map[string]string
}

// RunBoot runs a boot script with bash on this machine, with every command
// in stubs (name → bash body, arguments in "$@") shadowing the real one on
// PATH, and docker always replaced by a recorder. The boot directory is a
// temporary one. Real coreutils (sed, tr, base64) do the script's parsing.
func RunBoot(t *testing.T, script string, stubs map[string]string) BootRun {
	t.Helper()
	root := t.TempDir()
	bin, dir, rec := filepath.Join(root, "bin"), filepath.Join(root, "boot"), filepath.Join(root, "rec")
	for _, d := range []string{bin, rec} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	all := map[string]string{
		"docker": `printf '%s\n' "$*" >> "$REC/docker.args"
: > "$REC/docker.env"
for v in DATALAB_DB DATALAB_HTTP_PORT; do
  if [ -n "${!v+set}" ]; then printf '%s=%s\n' "$v" "${!v}" >> "$REC/docker.env"; fi
done`,
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
	run := BootRun{Err: cmd.Run(), Dir: dir, DockerEnv: map[string]string{}}
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
