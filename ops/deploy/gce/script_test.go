package gce_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/base64"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/ops/deploy/gce"
	"github.com/datalabhq/datalab/ops/deploy/internal/fakecloud"
)

// The DSN the fake Secret Manager holds; it must reach docker's
// environment and nothing else.
const dsn = "postgres://lab:s3cr%27t@10.1.2.3:5432/datalab?sslmode=require"

// curlStub answers the metadata server's token request, Secret Manager (only
// with that token; secretStatus "denied" refuses every secret,
// "kafka-denied" the Kafka one) and the compose file download, like the
// real services.
func curlStub(secretStatus string) string { return curlStubWithModels(secretStatus, "") }

// curlStubWithModels also serves models, a .tar.gz on this machine, as
// the gs://lab-deploy/models.tar.gz object.
func curlStubWithModels(secretStatus, models string) string {
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
  https://secretmanager.googleapis.com/v1/projects/lab-project/secrets/datalab-kafka/versions/latest:access)
    [ "$auth" = "Authorization: Bearer ya29.fake-token" ] || { echo "curl: (22) 401" >&2; exit 22; }
    [ "` + secretStatus + `" != kafka-denied ] || { echo "curl: (22) The requested URL returned error: 403" >&2; exit 22; }
    printf '{"name": "projects/123/secrets/datalab-kafka/versions/1", "payload": {"data": "` + base64.StdEncoding.EncodeToString([]byte(kafkaPassword)) + `"}}\n' ;;
  https://secretmanager.googleapis.com/*)
    [ "$auth" = "Authorization: Bearer ya29.fake-token" ] || { echo "curl: (22) 401" >&2; exit 22; }
    [ "` + secretStatus + `" != denied ] || { echo "curl: (22) The requested URL returned error: 403" >&2; exit 22; }
    printf '{\n  "name": "projects/123/secrets/datalab-db/versions/3",\n  "payload": {\n    "data": "` + data + `",\n    "dataCrc32c": "1234"\n  }\n}\n' ;;
  https://storage.googleapis.com/storage/v1/b/lab-deploy/o/models.tar.gz?alt=media)
    [ "$auth" = "Authorization: Bearer ya29.fake-token" ] || { echo "curl: (22) 401" >&2; exit 22; }
    cp '` + models + `' "$out" ;;
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
			run := fakecloud.RunBoot(t, "", script, map[string]string{
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
	run := fakecloud.RunBoot(t, "", script, map[string]string{"systemctl": ":", "curl": curlStub("denied")})
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
	run := fakecloud.RunBoot(t, "", script, map[string]string{"systemctl": ":", "curl": curlStub("ok")})
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

// modelsArchive writes a .tar.gz of a models directory whose file is
// private (0600), as a careless tar would hold it.
func modelsArchive(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "models.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	body := []byte(`{"class":"PipelineModel"}`)
	for _, h := range []*tar.Header{
		{Name: "matches/", Typeflag: tar.TypeDir, Mode: 0o700},
		{Name: "matches/form3/", Typeflag: tar.TypeDir, Mode: 0o700},
		{Name: "matches/form3/metadata.json", Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(body)), Uid: 1234},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestStartupScriptUnpacksModelsAndKeepsOnePostgresPassword(t *testing.T) {
	cfg := baseConfig()
	cfg.Stack.ModelsURL = "gs://lab-deploy/models.tar.gz"
	cfg.Stack.Env = map[string]string{"DATALAB_VERSION": "v1.2.0", "DATALAB_SITE": "lab.example.org"}
	script, err := gce.StartupScript(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stubs := map[string]string{"systemctl": ":", "curl": curlStubWithModels("ok", modelsArchive(t))}
	run := fakecloud.RunBoot(t, "", script, stubs)
	if run.Err != nil {
		t.Fatalf("script failed: %v\n%s", run.Err, run.Output)
	}
	model := filepath.Join(run.Dir, "models", "matches", "form3", "metadata.json")
	fi, err := os.Stat(model)
	if err != nil {
		t.Fatalf("models not unpacked: %v\n%s", err, run.Output)
	}
	if fi.Mode().Perm()&0o004 == 0 {
		t.Errorf("%s is %v: the apps (uid 65532) cannot read it", model, fi.Mode().Perm())
	}
	want := map[string]string{
		"DATALAB_MODELS_DIR": filepath.Join(run.Dir, "models"), "DATALAB_HTTP_PORT": "80", "DATALAB_DB": dsn,
		"DATALAB_VERSION": "v1.2.0", "DATALAB_SITE": "lab.example.org",
	}
	for k, v := range want {
		if run.DockerEnv[k] != v {
			t.Errorf("docker saw %s=%q, want %q", k, run.DockerEnv[k], v)
		}
	}
	pw := run.DockerEnv["POSTGRES_PASSWORD"]
	if len(pw) != 48 || strings.Trim(pw, "0123456789abcdef") != "" {
		t.Errorf("POSTGRES_PASSWORD = %q, want 48 hex digits", pw)
	}
	for _, k := range []string{"DATALAB_VERSION", "DATALAB_SITE", "DATALAB_MODELS_DIR", "POSTGRES_PASSWORD"} {
		if !strings.Contains(run.Docker[0], "-e "+k) {
			t.Errorf("docker run does not pass %s: %s", k, run.Docker[0])
		}
	}

	// A reboot keeps the password (the database volume was made with it).
	again := fakecloud.RunBoot(t, run.Root, script, stubs)
	if again.Err != nil {
		t.Fatalf("second boot failed: %v\n%s", again.Err, again.Output)
	}
	if again.DockerEnv["POSTGRES_PASSWORD"] != pw {
		t.Errorf("the password changed across boots: %q → %q", pw, again.DockerEnv["POSTGRES_PASSWORD"])
	}
	if strings.Contains(run.Output+again.Output, pw) {
		t.Error("the script printed the PostgreSQL password")
	}
}

// kafkaPassword is the external Kafka's SASL password in the fake Secret
// Manager: the characters a shell or printf would mangle.
const kafkaPassword = `k@fka%s'pw"$HOME\n`

func kafkaConfig() gce.Config {
	cfg := baseConfig()
	withKafka(&cfg, "projects/lab-project/secrets/datalab-kafka")
	return cfg
}

func TestStartupScriptWritesTheKafkaPasswordFileAndSkipsTheOwnKafka(t *testing.T) {
	script, err := gce.StartupScript(kafkaConfig())
	if err != nil {
		t.Fatal(err)
	}
	stubs := map[string]string{"systemctl": ":", "curl": curlStub("ok")}
	maps.Copy(stubs, fakecloud.KafkaStubs())
	run := fakecloud.RunBoot(t, "", script, stubs)
	if run.Err != nil {
		t.Fatalf("script failed: %v\n%s", run.Err, run.Output)
	}
	fakecloud.CheckKafkaPassword(t, run, kafkaPassword)
	if got := run.DockerEnv["DATALAB_DB"]; got != dsn {
		t.Errorf("docker saw DATALAB_DB=%q, want the secret's value", got)
	}
	if got := run.DockerEnv["DATALAB_KAFKA_SASL_MECHANISM"]; got != "SCRAM-SHA-512" {
		t.Errorf("docker saw DATALAB_KAFKA_SASL_MECHANISM=%q", got)
	}
	if len(run.Docker) != 1 || !strings.HasSuffix(run.Docker[0], "up --detach --remove-orphans --scale kafka=0") {
		t.Errorf("docker calls = %q, want one compose up without the stack's own Kafka", run.Docker)
	}
	// A reboot with a rotated password replaces the file.
	rotated := "rotated-" + kafkaPassword
	stubs["curl"] = strings.ReplaceAll(curlStub("ok"), base64.StdEncoding.EncodeToString([]byte(kafkaPassword)), base64.StdEncoding.EncodeToString([]byte(rotated)))
	run = fakecloud.RunBoot(t, run.Root, script, stubs)
	if run.Err != nil {
		t.Fatalf("reboot failed: %v\n%s", run.Err, run.Output)
	}
	fakecloud.CheckKafkaPassword(t, run, rotated)
}

func TestStartupScriptStopsWithoutTheKafkaSecret(t *testing.T) {
	script, err := gce.StartupScript(kafkaConfig())
	if err != nil {
		t.Fatal(err)
	}
	run := fakecloud.RunBoot(t, "", script, map[string]string{"systemctl": ":", "curl": curlStub("kafka-denied")})
	if run.Err == nil {
		t.Fatalf("script succeeded without the Kafka secret:\n%s", run.Output)
	}
	if len(run.Docker) != 0 {
		t.Errorf("docker ran without the Kafka secret: %q", run.Docker)
	}
	if !strings.Contains(run.Output, "403") {
		t.Errorf("output does not say why:\n%s", run.Output)
	}
	if _, err := os.Stat(filepath.Join(run.Dir, "kafka-sasl-password")); !os.IsNotExist(err) {
		t.Errorf("a password file exists after the failed read: %v", err)
	}
}
