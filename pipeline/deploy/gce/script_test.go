package gce_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/deploy/gce"
	"github.com/datalabhq/datalab/pipeline/deploy/internal/fakecloud"
)

// The DSN the fake Secret Manager holds; it must reach docker's
// environment and nothing else.
const dsn = "postgres://lab:s3cr%27t@10.1.2.3:5432/datalab?sslmode=require"

// curlStub answers the metadata server's token request, Secret Manager (only
// with that token) and the compose file download, like the real services.
func curlStub(secretStatus string) string {
	data := base64.StdEncoding.EncodeToString([]byte(dsn))
	return `out=""; url=""; auth=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift ;;
    -H) case "$2" in Authorization:*) auth="$2" ;; esac; shift ;;
    -*) ;;
    *) url="$1" ;;
  esac
  shift
done
echo "$url" >> "$REC/curl.urls"
case "$url" in
  http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token)
    echo '{"access_token":"ya29.fake-token","expires_in":3599,"token_type":"Bearer"}' ;;
  https://secretmanager.googleapis.com/*)
    [ "$auth" = "Authorization: Bearer ya29.fake-token" ] || { echo "curl: (22) 401" >&2; exit 22; }
    [ "` + secretStatus + `" = ok ] || { echo "curl: (22) The requested URL returned error: 403" >&2; exit 22; }
    printf '{\n  "name": "projects/123/secrets/datalab-db/versions/3",\n  "payload": {\n    "data": "` + data + `",\n    "dataCrc32c": "1234"\n  }\n}\n' ;;
  https://storage.googleapis.com/*|https://raw.githubusercontent.com/*)
    [ -n "$out" ] || exit 2
    echo 'services: {}' > "$out" ;;
  *) echo "curl: unexpected URL $url" >&2; exit 6 ;;
esac`
}

func TestStartupScriptRunsTheStackWithTheResolvedSecret(t *testing.T) {
	for _, compose := range []string{"", "gs://lab-deploy/compose/docker-compose.yml"} {
		t.Run("compose="+compose, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Stack.ComposeURL = compose
			script, err := gce.StartupScript(cfg)
			if err != nil {
				t.Fatal(err)
			}
			run := fakecloud.RunBoot(t, script, map[string]string{
				"systemctl": `echo "$*" >> "$REC/systemctl"`,
				"curl":      curlStub("ok"),
			})
			if run.Err != nil {
				t.Fatalf("script failed: %v\n%s", run.Err, run.Output)
			}
			if got := run.DockerEnv["DATALAB_DB"]; got != dsn {
				t.Errorf("docker saw DATALAB_DB=%q, want the secret's value", got)
			}
			if got := run.DockerEnv["DATALAB_HTTP_PORT"]; got != "80" {
				t.Errorf("docker saw DATALAB_HTTP_PORT=%q, want 80", got)
			}
			if len(run.Docker) != 1 || !strings.HasSuffix(run.Docker[0], "docker:27.5-cli compose --project-name datalab --file docker-compose.yml up --detach --remove-orphans") ||
				!strings.Contains(run.Docker[0], "-v /var/run/docker.sock:/var/run/docker.sock") {
				t.Errorf("docker calls = %q", run.Docker)
			}
			if strings.Contains(run.Output, "s3cr") {
				t.Errorf("the script printed the DSN:\n%s", run.Output)
			}
			fi, err := os.Stat(filepath.Join(run.Dir, "docker-compose.yml"))
			if err != nil {
				t.Fatalf("compose file not fetched: %v\n%s", err, run.Output)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("compose file mode %v, want 0600 (umask 077)", fi.Mode().Perm())
			}
			assertNoFileContains(t, run.Dir, "s3cr")
		})
	}
}

func TestStartupScriptStopsWhenTheSecretCannotBeRead(t *testing.T) {
	script, err := gce.StartupScript(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	run := fakecloud.RunBoot(t, script, map[string]string{"systemctl": ":", "curl": curlStub("denied")})
	if run.Err == nil {
		t.Fatalf("script succeeded without the secret:\n%s", run.Output)
	}
	if len(run.Docker) != 0 {
		t.Errorf("docker ran without the secret: %q", run.Docker)
	}
	if !strings.Contains(run.Output, "403") {
		t.Errorf("output does not say why:\n%s", run.Output)
	}
}

func TestStartupScriptWithoutSecretLeavesDATALAB_DBUnset(t *testing.T) {
	cfg := baseConfig()
	cfg.Stack.DBSecret = ""
	script, err := gce.StartupScript(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run := fakecloud.RunBoot(t, script, map[string]string{"systemctl": ":", "curl": curlStub("ok")})
	if run.Err != nil {
		t.Fatalf("script failed: %v\n%s", run.Err, run.Output)
	}
	if _, set := run.DockerEnv["DATALAB_DB"]; set {
		t.Errorf("DATALAB_DB set without a secret: %v", run.DockerEnv)
	}
}

func assertNoFileContains(t *testing.T, dir, s string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), s) {
				t.Errorf("%s holds the secret", p)
			}
		}
		return nil
	})
}
