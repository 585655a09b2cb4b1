package aws_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/ops/deploy/aws"
	"github.com/datalabhq/datalab/ops/deploy/internal/fakecloud"
)

const dsn = "mysql://datalab:p'w$d@tcp(datalab.abc.eu-west-1.rds.amazonaws.com:3306)/datalab?tls=true"

// awsCLIStub answers the two AWS CLI calls user-data makes, checking their
// arguments; secretOK=false answers like a role without the permission.
func awsCLIStub(secretOK bool) string {
	ok := "false"
	if secretOK {
		ok = "true"
	}
	return `echo "$*" >> "$REC/aws.calls"
case "$1 $2" in
  "secretsmanager get-secret-value")
    [ "$*" = "secretsmanager get-secret-value --region eu-west-1 --secret-id ` + secretARN + ` --query SecretString --output text" ] || { echo "unexpected: $*" >&2; exit 2; }
    ` + ok + ` || { echo "An error occurred (AccessDeniedException) when calling the GetSecretValue operation" >&2; exit 254; }
    cat <<'DSN'
` + dsn + `
DSN
    ;;
  "s3 cp")
    [ "$*" = "s3 cp --only-show-errors --region eu-west-1 s3://lab-deploy/docker-compose.yml $DATALAB_BOOT_DIR/docker-compose.yml" ] || { echo "unexpected: $*" >&2; exit 2; }
    echo 'services: {}' > "$7" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac`
}

func TestUserDataRunsTheStackWithTheResolvedSecret(t *testing.T) {
	cfg := baseConfig()
	cfg.Stack.ComposeURL = "s3://lab-deploy/docker-compose.yml"
	script, err := aws.UserData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run := fakecloud.RunBoot(t, "", script, map[string]string{
		"aws":       awsCLIStub(true),
		"systemctl": `echo "$*" >> "$REC/systemctl"`,
		"dnf":       `echo "dnf must not run: docker is there" >&2; exit 1`,
	})
	if run.Err != nil {
		t.Fatalf("user-data failed: %v\n%s", run.Err, run.Output)
	}
	if got := run.DockerEnv["DATALAB_DB"]; got != dsn {
		t.Errorf("docker saw DATALAB_DB=%q, want %q", got, dsn)
	}
	if got := run.DockerEnv["DATALAB_HTTP_PORT"]; got != "8080" {
		t.Errorf("docker saw DATALAB_HTTP_PORT=%q, want the app port 8080", got)
	}
	if len(run.Docker) != 1 || !strings.Contains(run.Docker[0], "compose --project-name datalab --file docker-compose.yml up --detach") {
		t.Errorf("docker calls = %q", run.Docker)
	}
	if strings.Contains(run.Output, "p'w$d") {
		t.Errorf("user-data printed the DSN:\n%s", run.Output)
	}
	if _, err := os.Stat(filepath.Join(run.Dir, "docker-compose.yml")); err != nil {
		t.Errorf("compose file not fetched: %v", err)
	}
}

func TestUserDataStopsWithoutTheSecret(t *testing.T) {
	script, err := aws.UserData(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	run := fakecloud.RunBoot(t, "", script, map[string]string{
		"aws":       awsCLIStub(false),
		"systemctl": ":",
		"curl":      `while [ $# -gt 1 ]; do [ "$1" = -o ] && echo 'services: {}' > "$2"; shift; done`,
	})
	if run.Err == nil {
		t.Fatalf("user-data succeeded without the secret:\n%s", run.Output)
	}
	if len(run.Docker) != 0 {
		t.Errorf("docker ran without the secret: %q", run.Docker)
	}
	if !strings.Contains(run.Output, "AccessDeniedException") {
		t.Errorf("output does not say why:\n%s", run.Output)
	}
}

// kafkaARN and kafkaPassword are the external Kafka's SASL secret: the
// password has the characters a shell or printf would mangle.
const (
	kafkaARN      = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:AmazonMSK_datalab-XyZ123"
	kafkaPassword = `k@fka%s'pw"$HOME\n`
)

// kafkaConfig is baseConfig pointed at an external MSK with SCRAM.
func kafkaConfig() aws.Config {
	cfg := baseConfig()
	withKafka(&cfg, kafkaARN)
	return cfg
}

// kafkaCLIStub answers both get-secret-value calls, each in its secret's
// region; kafkaOK=false answers the Kafka one like a role without access.
func kafkaCLIStub(kafkaOK bool) string {
	ok := "false"
	if kafkaOK {
		ok = "true"
	}
	return `echo "$*" >> "$REC/aws.calls"
case "$*" in
  "secretsmanager get-secret-value --region eu-west-1 --secret-id ` + secretARN + ` --query SecretString --output text")
    cat <<'DSN'
` + dsn + `
DSN
    ;;
  "secretsmanager get-secret-value --region eu-central-1 --secret-id ` + kafkaARN + ` --query SecretString --output text")
    ` + ok + ` || { echo "An error occurred (AccessDeniedException) when calling the GetSecretValue operation" >&2; exit 254; }
    cat <<'PW'
` + kafkaPassword + `
PW
    ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac`
}

func TestUserDataWritesTheKafkaPasswordFileAndSkipsTheOwnKafka(t *testing.T) {
	script, err := aws.UserData(kafkaConfig())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(script, kafkaPassword) {
		t.Fatal("the user-data holds the password")
	}
	stubs := map[string]string{
		"aws":       kafkaCLIStub(true),
		"systemctl": ":",
		"curl":      `while [ $# -gt 1 ]; do [ "$1" = -o ] && echo 'services: {}' > "$2"; shift; done`,
	}
	maps.Copy(stubs, fakecloud.KafkaStubs())
	run := fakecloud.RunBoot(t, "", script, stubs)
	if run.Err != nil {
		t.Fatalf("user-data failed: %v\n%s", run.Err, run.Output)
	}
	fakecloud.CheckKafkaPassword(t, run, kafkaPassword)
	if got := run.DockerEnv["DATALAB_DB"]; got != dsn {
		t.Errorf("docker saw DATALAB_DB=%q, want %q", got, dsn)
	}
	for k, v := range kafkaConfig().Stack.Env {
		if run.DockerEnv[k] != v {
			t.Errorf("docker saw %s=%q, want %q", k, run.DockerEnv[k], v)
		}
	}
	if len(run.Docker) != 1 || !strings.HasSuffix(run.Docker[0], "up --detach --remove-orphans --scale kafka=0") ||
		!strings.Contains(run.Docker[0], "-e DATALAB_KAFKA_PASSWORD_FILE") {
		t.Errorf("docker calls = %q, want one compose up passing the password file without the stack's own Kafka", run.Docker)
	}
}

func TestUserDataStopsWithoutTheKafkaSecret(t *testing.T) {
	script, err := aws.UserData(kafkaConfig())
	if err != nil {
		t.Fatal(err)
	}
	run := fakecloud.RunBoot(t, "", script, map[string]string{
		"aws":       kafkaCLIStub(false),
		"systemctl": ":",
		"curl":      `while [ $# -gt 1 ]; do [ "$1" = -o ] && echo 'services: {}' > "$2"; shift; done`,
	})
	if run.Err == nil {
		t.Fatalf("user-data succeeded without the Kafka secret:\n%s", run.Output)
	}
	if len(run.Docker) != 0 {
		t.Errorf("docker ran without the Kafka secret: %q", run.Docker)
	}
	if !strings.Contains(run.Output, "AccessDeniedException") {
		t.Errorf("output does not say why:\n%s", run.Output)
	}
	if _, err := os.Stat(filepath.Join(run.Dir, "kafka-sasl-password")); !os.IsNotExist(err) {
		t.Errorf("a password file exists after the failed read: %v", err)
	}
}
