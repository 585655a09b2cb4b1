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
// VM for the stack's own PostgreSQL), DATALAB_MODELS_DIR, and Env.
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
var reservedEnv = []string{"DATALAB_DB", "DATALAB_HTTP_PORT", "DATALAB_MODELS_DIR", "POSTGRES_PASSWORD"}

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
			return fmt.Errorf("stack setting %s looks secret: settings are stored in clear in the VM's metadata; keep secrets in the secret store (--db-secret)", k)
		case strings.ContainsAny(s.Env[k], "\n\x00"):
			return fmt.Errorf("stack setting %s: the value has a line break", k)
		}
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
	// FetchSecret prints the DSN on stdout; empty when Stack.DBSecret is.
	FetchSecret string
}

// BootScript renders the script a VM runs at every boot (GCE startup-script,
// AWS user-data): fetch the compose file (and the models), resolve the
// database secret with the machine's own identity, and `docker compose up`
// the stack. It is idempotent, writes the DSN nowhere (it passes through the
// environment of one docker command), and never prints it.
func BootScript(s Stack, steps BootSteps) string {
	var b strings.Builder
	db := "the stack's own PostgreSQL (no DATALAB_DB)"
	if s.DBSecret != "" {
		db = s.DBSecret + " (resolved at boot; the value is never written to disk)"
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
`, steps.Cloud, s.ComposeURL, s.ComposeImage, models, s.HTTPPort, db)
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
	if steps.FetchSecret != "" {
		fmt.Fprintf(&b, "\nlog 'resolving the database secret'\nDATALAB_DB=\"$(\n%s\n)\"\n", indent(steps.FetchSecret))
		b.WriteString(`[ -n "$DATALAB_DB" ] || { log 'the database secret is empty'; exit 1; }
export DATALAB_DB
`)
	}
	b.WriteString(`
# The stack's own PostgreSQL needs a password even when DATALAB_DB points
# elsewhere: one is made on the first boot and kept on the VM (root only).
[ -s "$dir/postgres-password" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/postgres-password"
POSTGRES_PASSWORD="$(cat "$dir/postgres-password")"
export POSTGRES_PASSWORD
`)
	fmt.Fprintf(&b, "\nexport DATALAB_HTTP_PORT=%d\nexport DATALAB_MODELS_DIR=\"$dir/models\"\n", s.HTTPPort)
	envFlags := "-e DATALAB_DB -e DATALAB_HTTP_PORT -e DATALAB_MODELS_DIR -e POSTGRES_PASSWORD"
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, ShellQuote(s.Env[k]))
		envFlags += " -e " + k
	}
	fmt.Fprintf(&b, `log 'starting the compose stack'
exec docker run --rm --name datalab-compose \
  -v /var/run/docker.sock:/var/run/docker.sock -v "$dir:$dir" -w "$dir" \
  %s \
  %s compose --project-name %s --file docker-compose.yml up --detach --remove-orphans
`, envFlags, ShellQuote(s.ComposeImage), ComposeProject)
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
