package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Defaults of Stack.
const (
	// DefaultComposeURL is the compose file of the one-VM stack in this
	// repository (deploy/compose/docker-compose.yml), fetched by the VM at boot.
	DefaultComposeURL = "https://raw.githubusercontent.com/datalabhq/datalab/main/deploy/compose/docker-compose.yml"
	// DefaultComposeImage runs `docker compose` on the VM: neither
	// Container-Optimized OS nor Amazon Linux ships the compose plugin, the
	// Docker CLI image does.
	DefaultComposeImage = "docker:27.5-cli"
	// ComposeProject is the compose project name on the VM.
	ComposeProject = "datalab"
	// BootDir is where the boot script keeps the compose file on the VM.
	BootDir = "/var/lib/datalab"
)

// Stack says which compose stack a VM runs and how it is configured. The
// compose file (docs/deploy-compose.md) reads its settings from the
// environment the boot script gives `docker compose`: DATALAB_HTTP_PORT (the
// host port of the web entry point), DATALAB_DB (a managed database's DSN;
// unset: the stack's own PostgreSQL), POSTGRES_PASSWORD (generated once per
// VM for the stack's own PostgreSQL), DATALAB_MODELS_DIR,
// DATALAB_KAFKA_PASSWORD_FILE (the file the boot script writes KafkaSecret's
// value to), and Env.
type Stack struct {
	// ComposeURL is where the VM fetches the compose file: https://…, or a
	// bucket object the VM's role may read (gs:// on GCE, s3:// on AWS).
	ComposeURL string
	// ComposeImage is the image whose `docker compose` starts the stack.
	ComposeImage string
	// ModelsURL, when set, is a .tar.gz of the models directory
	// (matches/form3/, flights/…, distances/…), fetched like ComposeURL and
	// unpacked as DATALAB_MODELS_DIR at every boot. Empty: the models must
	// already be in BootDir/models.
	ModelsURL string
	// HTTPPort is DATALAB_HTTP_PORT.
	HTTPPort int
	// DBSecret is a reference to the secret holding DATALAB_DB — a GCP Secret
	// Manager version or an AWS Secrets Manager ARN — never the DSN itself.
	// The VM resolves it at boot with its own identity. Empty: no DATALAB_DB.
	DBSecret string
	// KafkaSecret is a reference of the same kind to the secret holding the
	// SASL password of an external Kafka (Env's DATALAB_BROKERS), never the
	// password itself. The VM resolves it at boot into a file only the apps'
	// user may read, DATALAB_KAFKA_PASSWORD_FILE, which the compose file
	// mounts as a secret. Empty: no SASL password.
	KafkaSecret string
	// Env holds more compose settings (DATALAB_VERSION, DATALAB_SITE, …).
	// They are written into the boot script in clear: nothing secret.
	Env map[string]string
}

// WithDefaults fills the empty fields of s.
func (s Stack) WithDefaults() Stack {
	if s.ComposeURL == "" {
		s.ComposeURL = DefaultComposeURL
	}
	if s.ComposeImage == "" {
		s.ComposeImage = DefaultComposeImage
	}
	return s
}

var envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// reservedEnv are set by the boot script itself.
var reservedEnv = []string{"DATALAB_DB", "DATALAB_HTTP_PORT", "DATALAB_KAFKA_PASSWORD_FILE", "DATALAB_MODELS_DIR", "POSTGRES_PASSWORD"}

// Settings of an external Kafka in Stack.Env (docs/kafka-security.md).
const (
	// BrokersEnv names external brokers; set, the stack's own Kafka is not
	// started (`up --scale kafka=0`: compose then waits for no Kafka).
	BrokersEnv = "DATALAB_BROKERS"
	// SASLMechanismEnv is the SASL mechanism of the external brokers.
	SASLMechanismEnv = "DATALAB_KAFKA_SASL_MECHANISM"
	// KafkaService is the compose service of the stack's own Kafka.
	KafkaService = "kafka"
)

// passwordMechanisms are the SASL mechanisms that take a password;
// AWS_MSK_IAM signs with the machine's role instead.
var passwordMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// ExternalKafka reports whether the stack uses external brokers rather
// than its own Kafka.
func (s Stack) ExternalKafka() bool { return s.Env[BrokersEnv] != "" }

// Check validates the URLs (https://, or a bucket URL with one of
// bucketSchemes) and the Env names: no reserved name, and nothing that
// looks like a secret, since Env is stored in clear in the VM's metadata.
func (s Stack) Check(bucketSchemes ...string) error {
	if _, err := CheckComposeURL(s.ComposeURL, bucketSchemes...); err != nil {
		return err
	}
	if s.ModelsURL != "" {
		if _, err := CheckComposeURL(s.ModelsURL, bucketSchemes...); err != nil {
			return fmt.Errorf("models archive: %w", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		switch up := strings.ToUpper(k); {
		case !envNameRE.MatchString(k):
			return fmt.Errorf("stack setting %q: want an environment variable name (A-Z, 0-9, _)", k)
		case slices.Contains(reservedEnv, k):
			return fmt.Errorf("stack setting %s is set by the deployment itself (use the flag for it)", k)
		case strings.Contains(up, "PASSWORD") || strings.Contains(up, "SECRET") || strings.Contains(up, "TOKEN") || strings.HasSuffix(up, "_KEY"):
			return fmt.Errorf("stack setting %s looks secret: settings are stored in clear in the VM's metadata; keep secrets in the secret store (--db-secret, --kafka-secret)", k)
		case strings.ContainsAny(s.Env[k], "\n\x00"):
			return fmt.Errorf("stack setting %s: the value has a line break", k)
		}
	}
	mech := strings.ToUpper(s.Env[SASLMechanismEnv])
	switch {
	case s.KafkaSecret != "" && !s.ExternalKafka():
		return fmt.Errorf("--kafka-secret is the password of an external Kafka: name its brokers with --stack-env %s=host:9096 (the stack's own Kafka has no SASL)", BrokersEnv)
	case s.KafkaSecret != "" && !slices.Contains(passwordMechanisms, mech):
		return fmt.Errorf("--kafka-secret needs a SASL mechanism that takes a password: --stack-env %s=%s", SASLMechanismEnv, strings.Join(passwordMechanisms, "|"))
	case s.KafkaSecret == "" && slices.Contains(passwordMechanisms, mech):
		return fmt.Errorf("SASL mechanism %s needs a password: pass --kafka-secret, a reference to the secret holding it", mech)
	case mech != "" && !s.ExternalKafka():
		return fmt.Errorf("stack setting %s is for an external Kafka: name its brokers with --stack-env %s", SASLMechanismEnv, BrokersEnv)
	}
	return nil
}

// BootSteps are the cloud-specific parts of a boot script: shell fragments
// the common skeleton runs in order. Each may use $dir (the boot directory)
// and must fail (non-zero) on error: the script runs under set -euo pipefail.
type BootSteps struct {
	// Cloud names the target in the header comment.
	Cloud string
	// Prepare makes docker available and running.
	Prepare string
	// Fetch returns the command that downloads rawURL (https:// or the
	// cloud's bucket URL) to the file dest (a shell word such as
	// "$dir/docker-compose.yml").
	Fetch func(rawURL, dest string) string
	// FetchSecret returns the command that prints the value of the secret
	// ref (Stack.DBSecret, Stack.KafkaSecret) on stdout.
	FetchSecret func(ref string) string
}

// KafkaPasswordFile is the file, in the boot directory, the boot script
// writes the Kafka SASL password to: mode 0600, owned by the apps' user.
const KafkaPasswordFile = "kafka-sasl-password"

// AppUser is the uid:gid the datalab images run as (deploy/compose).
const AppUser = "65532:65532"

// BootScript renders the script a VM runs at every boot (GCE startup-script,
// AWS user-data): fetch the compose file (and the models), resolve the
// database secret with the machine's own identity, and `docker compose up`
// the stack. It is idempotent, writes the DSN nowhere (it passes through the
// environment of one docker command), and never prints it. The Kafka SASL
// password (Stack.KafkaSecret) goes to one file only the apps' user may
// read, and is never printed either.
func BootScript(s Stack, steps BootSteps) string {
	var b strings.Builder
	db := "the stack's own PostgreSQL (no DATALAB_DB)"
	if s.DBSecret != "" {
		db = s.DBSecret + " (resolved at boot; the value is never written to disk)"
	}
	kafka := "the stack's own"
	if s.ExternalKafka() {
		kafka = s.Env[BrokersEnv] + " (DATALAB_BROKERS; the stack's own is not started)"
		if s.KafkaSecret != "" {
			kafka += ", SASL password from " + s.KafkaSecret
		}
	}
	models := BootDir + "/models, put there by other means"
	if s.ModelsURL != "" {
		models = s.ModelsURL
	}
	fmt.Fprintf(&b, `#!/bin/bash
# datalab boot script for %s, generated by `+"`datalab deploy`"+`.
# Do not edit it on the machine: change the deploy flags and deploy again.
# It runs at every boot and is idempotent.
#   compose file:  %s
#   compose image: %s
#   models:        %s
#   web port:      %d (DATALAB_HTTP_PORT)
#   database:      %s
#   kafka:         %s
`, steps.Cloud, s.ComposeURL, s.ComposeImage, models, s.HTTPPort, db, kafka)
	keys := slices.Sorted(maps.Keys(s.Env))
	for _, k := range keys {
		fmt.Fprintf(&b, "#   %s: %s\n", k, s.Env[k])
	}
	fmt.Fprintf(&b, `#
set -euo pipefail
umask 077
dir="${DATALAB_BOOT_DIR:-%s}"
mkdir -p "$dir"
log() { echo "datalab-boot: $*" >&2; }
`, BootDir)
	section(&b, "starting docker", steps.Prepare)
	section(&b, "fetching the compose file", steps.Fetch(s.ComposeURL, `"$dir/docker-compose.yml"`))
	if s.ModelsURL != "" {
		// Unpacked beside the old models and swapped in, readable by the
		// apps' user (65532): a failed download keeps the previous models.
		section(&b, "fetching the models", steps.Fetch(s.ModelsURL, `"$dir/models.tar.gz"`)+`
rm -rf "$dir/models.new" && mkdir -p "$dir/models.new"
tar -xzf "$dir/models.tar.gz" --no-same-owner --no-same-permissions -C "$dir/models.new"
chmod -R a+rX "$dir/models.new"
rm -rf "$dir/models" && mv "$dir/models.new" "$dir/models" && rm -f "$dir/models.tar.gz"`)
	}
	if s.DBSecret != "" {
		fmt.Fprintf(&b, "\nlog 'resolving the database secret'\nDATALAB_DB=\"$(\n%s\n)\"\n", indent(steps.FetchSecret(s.DBSecret)))
		b.WriteString(`[ -n "$DATALAB_DB" ] || { log 'the database secret is empty'; exit 1; }
export DATALAB_DB
`)
	}
	envFlags := "-e DATALAB_DB -e DATALAB_HTTP_PORT -e DATALAB_MODELS_DIR -e POSTGRES_PASSWORD"
	if s.KafkaSecret != "" {
		// Into a file, not the environment (docker inspect shows that):
		// written beside the target with umask 077 by the shell's own
		// printf (no process sees it in its arguments), handed to the
		// apps' user, then renamed over the old one.
		fmt.Fprintf(&b, "\nlog 'resolving the Kafka SASL password'\nkafka_password=\"$(\n%s\n)\"\n", indent(steps.FetchSecret(s.KafkaSecret)))
		fmt.Fprintf(&b, `[ -n "$kafka_password" ] || { log 'the Kafka password secret is empty'; exit 1; }
printf '%%s' "$kafka_password" > "$dir/%[1]s.new"
unset kafka_password
chmod 600 "$dir/%[1]s.new"
chown %[2]s "$dir/%[1]s.new"
mv -f "$dir/%[1]s.new" "$dir/%[1]s"
export DATALAB_KAFKA_PASSWORD_FILE="$dir/%[1]s"
`, KafkaPasswordFile, AppUser)
		envFlags += " -e DATALAB_KAFKA_PASSWORD_FILE"
	}
	b.WriteString(`
# The stack's own PostgreSQL needs a password even when DATALAB_DB points
# elsewhere: one is made on the first boot and kept on the VM (root only).
[ -s "$dir/postgres-password" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/postgres-password"
POSTGRES_PASSWORD="$(cat "$dir/postgres-password")"
export POSTGRES_PASSWORD
`)
	fmt.Fprintf(&b, "\nexport DATALAB_HTTP_PORT=%d\nexport DATALAB_MODELS_DIR=\"$dir/models\"\n", s.HTTPPort)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, ShellQuote(s.Env[k]))
		envFlags += " -e " + k
	}
	scale := ""
	if s.ExternalKafka() {
		scale = " --scale " + KafkaService + "=0"
	}
	fmt.Fprintf(&b, `log 'starting the compose stack'
exec docker run --rm --name datalab-compose \
  -v /var/run/docker.sock:/var/run/docker.sock -v "$dir:$dir" -w "$dir" \
  %s \
  %s compose --project-name %s --file docker-compose.yml up --detach --remove-orphans%s
`, envFlags, ShellQuote(s.ComposeImage), ComposeProject, scale)
	return b.String()
}

// ScriptSettings reads back the settings a boot script lists in its header
// ("compose file", "compose image", "web port", "database"), so that a plan
// can say which of them changed between two scripts.
func ScriptSettings(script string) map[string]string {
	settings := map[string]string{}
	for _, line := range strings.Split(script, "\n") {
		if !strings.HasPrefix(line, "#") {
			if line != "" && !strings.HasPrefix(line, "#!") {
				break
			}
			continue
		}
		rest, ok := strings.CutPrefix(line, "#   ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(rest, ":"); ok {
			settings[k] = strings.TrimSpace(v)
		}
	}
	return settings
}

func section(b *strings.Builder, what, body string) {
	if body == "" {
		return
	}
	fmt.Fprintf(b, "\nlog %s\n%s\n", ShellQuote(what), strings.TrimRight(body, "\n"))
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// FetchHTTPS is the command that downloads an https:// URL to dest.
func FetchHTTPS(rawURL, dest string) string {
	return "curl -fsSL --retry 5 --retry-connrefused -o " + dest + " " + ShellQuote(rawURL)
}

// CheckComposeURL accepts https:// URLs and bucket URLs with one of the
// given schemes ("gs", "s3"), and returns the parsed URL.
func CheckComposeURL(raw string, bucketSchemes ...string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	ok := u.Scheme == "https"
	for _, s := range bucketSchemes {
		ok = ok || u.Scheme == s
	}
	if !ok || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		want := "https://host/path"
		for _, s := range bucketSchemes {
			want += " or " + s + "://bucket/object"
		}
		return nil, fmt.Errorf("URL %q: want %s", raw, want)
	}
	return u, nil
}

// Digest prints a long value (a boot script) the way a plan shows it.
func Digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:8]) + " (" + strconv.Itoa(len(s)) + " bytes)"
}
