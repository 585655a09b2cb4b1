package fakecloud

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// KafkaStubs are the stubs a boot script that writes the Kafka password
// file needs on this machine: none as root (the real chown hands the file to
// the apps' user), a recorder of chown's arguments otherwise.
func KafkaStubs() map[string]string {
	if os.Geteuid() == 0 {
		return nil
	}
	return map[string]string{"chown": `echo "$*" >> "$REC/chown.args"`}
}

// CheckKafkaPassword checks what a boot script did with the Kafka SASL
// password: the file DATALAB_KAFKA_PASSWORD_FILE names holds exactly
// password, has mode 0600 and belongs to the apps' user (65532); no
// temporary file is left; and the password is nowhere in the output, the
// docker arguments or docker's environment.
func CheckKafkaPassword(t *testing.T, run BootRun, password string) {
	t.Helper()
	file := filepath.Join(run.Dir, "kafka-sasl-password")
	if got := run.DockerEnv["DATALAB_KAFKA_PASSWORD_FILE"]; got != file {
		t.Errorf("docker saw DATALAB_KAFKA_PASSWORD_FILE=%q, want %q", got, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("password file: %v", err)
	}
	if string(b) != password {
		t.Errorf("password file holds %q, want %q", b, password)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", fi.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 65532 || st.Gid != 65532 {
			t.Errorf("password file owner %+v, want 65532:65532 (the apps' user)", fi.Sys())
		}
	} else if b, _ := os.ReadFile(filepath.Join(run.Root, "rec", "chown.args")); string(b) != "65532:65532 "+file+".new\n" {
		t.Errorf("chown calls %q, want the file handed to 65532:65532", b)
	}
	if _, err := os.Stat(file + ".new"); !os.IsNotExist(err) {
		t.Errorf("temporary password file left behind: %v", err)
	}
	if strings.Contains(run.Output, password) {
		t.Errorf("the boot script printed the Kafka password:\n%s", run.Output)
	}
	for _, args := range run.Docker {
		if strings.Contains(args, password) {
			t.Errorf("docker got the Kafka password in its arguments: %s", args)
		}
	}
	for k, v := range run.DockerEnv {
		if strings.Contains(v, password) {
			t.Errorf("docker got the Kafka password in its environment (%s)", k)
		}
	}
}

// KafkaEnv are the stack settings of an external Kafka with SCRAM the
// deploy tests use (docs/kafka-security.md); the password is a secret
// reference beside them.
func KafkaEnv() map[string]string {
	return map[string]string{
		"DATALAB_BROKERS":              "b-1.lab.abc.kafka.eu-central-1.amazonaws.com:9096",
		"DATALAB_KAFKA_TLS":            "true",
		"DATALAB_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
		"DATALAB_KAFKA_SASL_USERNAME":  "datalab",
	}
}
