// Package compose_test loads deploy/compose/docker-compose.yml with
// compose-go (the library `docker compose` is built on), schema validation
// and consistency checks on, and asserts what docs/deploy-compose.md
// promises: the services, their healthchecks and start order, that only the
// web entry point is published, and that no secret is written in the files.
package compose_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeFile = "docker-compose.yml"
	// testPassword stands for the operator's POSTGRES_PASSWORD.
	testPassword = "0123456789abcdef0123456789abcdef"
)

var (
	datalabServices = []string{"match-app", "flight-app", "predictor"}
	allServices     = []string{"flight-app", "kafka", "match-app", "postgres", "predictor", "proxy"}
	// addrVars names the variable each datalab service reads its listen
	// address from.
	addrVars = map[string]string{"match-app": "DATALAB_ADDR", "flight-app": "DATALAB_FLIGHT_ADDR", "predictor": "DATALAB_PREDICTOR_ADDR"}
)

// load reads the compose file the way `docker compose` does, with only the
// variables given (never the test process's environment or a local .env).
func load(t *testing.T, env ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory("."), cli.WithEnv(env), cli.WithInterpolation(true),
		cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func mustLoad(t *testing.T, env ...string) *types.Project {
	t.Helper()
	p, err := load(t, env...)
	if err != nil {
		t.Fatalf("load %s: %v", composeFile, err)
	}
	return p
}

func TestServices(t *testing.T) {
	p := mustLoad(t, "POSTGRES_PASSWORD="+testPassword)
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), allServices) {
		t.Fatalf("services %v, want %v", got, allServices)
	}
	if p.Name != "datalab" {
		t.Errorf("project name %q, want datalab (what datalab deploy runs it as)", p.Name)
	}
	for _, name := range allServices {
		s := p.Services[name]
		if s.Restart != types.RestartPolicyUnlessStopped && s.Restart != types.RestartPolicyAlways {
			t.Errorf("%s: restart %q", name, s.Restart)
		}
		if !strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest") {
			t.Errorf("%s: image %q has no pinned tag", name, s.Image)
		}
		if !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") || s.Privileged {
			t.Errorf("%s: capabilities not all dropped, or privileges can be gained", name)
		}
		if len(s.CapAdd) > 0 && (name != "proxy" || !slices.Equal(s.CapAdd, []string{"NET_BIND_SERVICE"})) {
			t.Errorf("%s: cap_add %v", name, s.CapAdd)
		}
	}
	wantEntrypoint := map[string]string{"match-app": "serve", "flight-app": "serve-flights", "predictor": "predictor"}
	for _, name := range datalabServices {
		s := p.Services[name]
		if s.User != "65532:65532" || !s.ReadOnly {
			t.Errorf("%s: user %q, read_only %v; want 65532:65532 and a read-only root", name, s.User, s.ReadOnly)
		}
		if !slices.Equal(s.Entrypoint, types.ShellCommand{"/usr/local/bin/datalab", wantEntrypoint[name]}) {
			t.Errorf("%s: entrypoint %v", name, s.Entrypoint)
		}
		if want := "v0.1.0"; !strings.HasSuffix(s.Image, ":"+want) || !strings.HasPrefix(s.Image, "ghcr.io/datalabhq/datalab-") {
			t.Errorf("%s: image %s, want ghcr.io/datalabhq/datalab-*:%s by default", name, s.Image, want)
		}
		models := false
		for _, v := range s.Volumes {
			if v.Target == "/data/models" {
				models = v.ReadOnly && v.Type == types.VolumeTypeBind
			} else if !v.ReadOnly {
				t.Errorf("%s: writable volume at %s", name, v.Target)
			}
		}
		if !models {
			t.Errorf("%s: no read-only models bind mount at /data/models", name)
		}
		if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes == 0 {
			t.Errorf("%s: no memory limit", name)
		}
	}
	for name, target := range map[string]string{"kafka": "/var/lib/kafka/data", "postgres": "/var/lib/postgresql/data", "proxy": "/data"} {
		if !slices.ContainsFunc(p.Services[name].Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Target == target
		}) {
			t.Errorf("%s: no named volume at %s", name, target)
		}
	}
}

// Only Caddy is published, on the web ports; Kafka, PostgreSQL and the apps'
// own ports never are. DATALAB_HTTP_PORT moves the HTTP port (datalab deploy
// sets it).
func TestOnlyTheWebEntryPointIsPublished(t *testing.T) {
	for _, c := range []struct {
		env               []string
		httpHost, tlsHost string
	}{
		{[]string{"POSTGRES_PASSWORD=" + testPassword}, "80", "443"},
		{[]string{"POSTGRES_PASSWORD=" + testPassword, "DATALAB_HTTP_PORT=8081", "DATALAB_HTTPS_PORT=8444"}, "8081", "8444"},
	} {
		p := mustLoad(t, c.env...)
		for name, s := range p.Services {
			if name != "proxy" && len(s.Ports) > 0 {
				t.Errorf("%s publishes %v", name, s.Ports)
			}
			if name != "proxy" && s.NetworkMode == "host" {
				t.Errorf("%s uses the host network", name)
			}
		}
		var got []string
		for _, port := range p.Services["proxy"].Ports {
			got = append(got, port.Published+"->"+strconv.FormatUint(uint64(port.Target), 10)+"/"+port.Protocol)
			if port.HostIP != "" && port.HostIP != "0.0.0.0" {
				t.Errorf("proxy port bound to %s", port.HostIP)
			}
		}
		want := []string{c.httpHost + "->8080/tcp", c.tlsHost + "->8443/tcp"}
		if !slices.Equal(got, want) {
			t.Errorf("%v: proxy publishes %v, want %v", c.env, got, want)
		}
	}
	p := mustLoad(t, "POSTGRES_PASSWORD="+testPassword)
	if !p.Networks["data"].Internal {
		t.Error("the data network (Kafka, PostgreSQL) is not internal")
	}
	for _, name := range []string{"kafka", "postgres"} {
		if nets := keys(p.Services[name].Networks); !slices.Equal(nets, []string{"data"}) {
			t.Errorf("%s is on networks %v, want only data", name, nets)
		}
	}
}

func TestHealthchecksAndStartOrder(t *testing.T) {
	p := mustLoad(t, "POSTGRES_PASSWORD="+testPassword)
	for _, name := range allServices {
		h := p.Services[name].HealthCheck
		if h == nil || h.Disable || len(h.Test) < 2 || h.Interval == nil || h.Timeout == nil || h.Retries == nil {
			t.Errorf("%s: no usable healthcheck: %+v", name, h)
		}
	}
	// The datalab images have no shell or HTTP client: each service GETs its
	// own /healthz with the binary, on the port it listens on, and gives up
	// before Docker's timeout does (datalab healthcheck's default is 3 s).
	for _, name := range datalabServices {
		s := p.Services[name]
		addr := s.Environment[addrVars[name]]
		if addr == nil || !strings.HasPrefix(*addr, ":") {
			t.Errorf("%s: %s = %v, want :PORT", name, addrVars[name], addr)
			continue
		}
		want := types.HealthCheckTest{"CMD", "/usr/local/bin/datalab", "healthcheck", "http://127.0.0.1" + *addr + "/healthz"}
		h := s.HealthCheck
		if h == nil {
			continue
		}
		if !slices.Equal(h.Test, want) {
			t.Errorf("%s: healthcheck %q, want %q", name, h.Test, want)
		}
		if h.Timeout != nil && time.Duration(*h.Timeout) <= 3*time.Second {
			t.Errorf("%s: healthcheck timeout %s, not above datalab healthcheck's 3 s", name, time.Duration(*h.Timeout))
		}
		if h.StartPeriod == nil || time.Duration(*h.StartPeriod) < 60*time.Second {
			t.Errorf("%s: start_period %v, want at least 60 s for the model, store and topics", name, h.StartPeriod)
		}
	}
	want := map[string]map[string]string{
		"match-app":  {"postgres": types.ServiceConditionHealthy},
		"flight-app": {"postgres": types.ServiceConditionHealthy, "kafka": types.ServiceConditionHealthy},
		"predictor":  {"postgres": types.ServiceConditionHealthy, "kafka": types.ServiceConditionHealthy},
		"proxy":      {"match-app": types.ServiceConditionStarted, "flight-app": types.ServiceConditionStarted},
	}
	for name, s := range p.Services {
		got := map[string]string{}
		for dep, d := range s.DependsOn {
			got[dep] = d.Condition
			if d.Condition == types.ServiceConditionHealthy && p.Services[dep].HealthCheck == nil {
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
		if len(got) != len(want[name]) {
			t.Errorf("%s depends on %v, want %v", name, got, want[name])
		}
		for dep, cond := range want[name] {
			if got[dep] != cond {
				t.Errorf("%s: depends_on %s condition %q, want %q", name, dep, got[dep], cond)
			}
		}
	}
}

// Caddy polls each app's /healthz on the port the app listens on (so it
// stops sending traffic to a failing replica), and routes only public paths.
func TestProxyChecksAndRoutesTheApps(t *testing.T) {
	p := mustLoad(t, "POSTGRES_PASSWORD="+testPassword)
	cfg, ok := p.Configs["caddyfile"]
	if !ok || cfg.Content == "" {
		t.Fatal("no inline caddyfile config")
	}
	if !slices.ContainsFunc(p.Services["proxy"].Configs, func(c types.ServiceConfigObjConfig) bool {
		return c.Source == "caddyfile" && c.Target == "/etc/caddy/Caddyfile"
	}) {
		t.Error("the proxy does not mount the caddyfile config at /etc/caddy/Caddyfile")
	}
	caddy := cfg.Content
	if !strings.Contains(caddy, "\n:8080 {") {
		t.Errorf("site address not interpolated to :8080 by default:\n%s", caddy)
	}
	for app, addrVar := range map[string]string{"match-app": "DATALAB_ADDR", "flight-app": "DATALAB_FLIGHT_ADDR"} {
		addr := p.Services[app].Environment[addrVar]
		if addr == nil {
			t.Fatalf("%s: %s not set", app, addrVar)
		}
		upstream := regexp.MustCompile(`reverse_proxy ` + regexp.QuoteMeta(app+*addr) + ` \{[^}]*health_uri /healthz`)
		if !upstream.MatchString(caddy) {
			t.Errorf("no reverse_proxy to %s%s with health_uri /healthz", app, *addr)
		}
	}
	matchers := regexp.MustCompile(`(?m)^\s*@\w+ path (.+)$`).FindAllStringSubmatch(caddy, -1)
	if len(matchers) != 2 {
		t.Fatalf("%d path matchers, want 2", len(matchers))
	}
	// /metrics stays internal; /healthz is routed (to the match app) for a
	// load balancer's health check (datalab deploy aws targets it).
	healthRoutes := 0
	for _, m := range matchers {
		for _, pattern := range strings.Fields(m[1]) {
			if pattern == "/healthz" {
				healthRoutes++
				continue
			}
			for _, internal := range []string{"/metrics", "/healthz"} {
				if ok, _ := filepath.Match(pattern, internal); ok || strings.HasPrefix(internal, strings.TrimSuffix(pattern, "*")) && strings.HasSuffix(pattern, "*") {
					t.Errorf("path %s routes %s", pattern, internal)
				}
			}
		}
	}
	if healthRoutes != 1 || !regexp.MustCompile(`@matches path [^\n]*/healthz[ \n]`).MatchString(caddy) {
		t.Errorf("/healthz routed %d times, want once, to the match app (the load balancer's health check)", healthRoutes)
	}
}

func TestPartitionsAgree(t *testing.T) {
	for _, env := range [][]string{{"POSTGRES_PASSWORD=" + testPassword}, {"POSTGRES_PASSWORD=" + testPassword, "DATALAB_PARTITIONS=6"}} {
		p := mustLoad(t, env...)
		kafka := *p.Services["kafka"].Environment["KAFKA_NUM_PARTITIONS"]
		for _, name := range []string{"flight-app", "predictor"} {
			if got := p.Services[name].Command; !slices.Equal(got, types.ShellCommand{"--partitions=" + kafka}) {
				t.Errorf("%v: %s command %v, Kafka's default partitions %s", env, name, got, kafka)
			}
		}
	}
}

// No secret is in the files: the database password exists only as the
// required variable POSTGRES_PASSWORD, which .env.example leaves empty.
func TestNoSecretsInTheFiles(t *testing.T) {
	if _, err := load(t); err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Fatalf("loading without POSTGRES_PASSWORD: %v, want a required-variable error", err)
	}
	opts, err := cli.NewProjectOptions([]string{composeFile}, cli.WithWorkingDirectory("."),
		cli.WithEnvFiles(".env.example"), cli.WithDotEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(context.Background()); err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Fatalf("loading with .env.example as it is: %v, want a required-variable error", err)
	}

	// user:password@ in a URL, or a password key with a value (a YAML key or
	// an env file line; comments are not keys).
	credential := regexp.MustCompile(`(?im)://[^/@\s:]+:([^/@\s]+)@|^[ \t]*[\w"']*password[\w"']*[ \t]*[:=][ \t]*([^\s#]+)`)
	for _, f := range []string{composeFile, ".env.example"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range credential.FindAllStringSubmatch(string(b), -1) {
			// A variable or the path of a mounted compose secret is not a credential.
			if secret := m[1] + m[2]; !strings.HasPrefix(secret, "${") && !strings.HasPrefix(secret, "/run/secrets/") {
				t.Errorf("%s: literal credential %q", f, m[0])
			}
		}
	}

	// The password reaches exactly the places that need it.
	p := mustLoad(t, "POSTGRES_PASSWORD="+testPassword)
	var got []string
	for name, s := range p.Services {
		for k, v := range s.Environment {
			if v != nil && strings.Contains(*v, testPassword) {
				got = append(got, name+"."+k)
			}
		}
		if strings.Contains(strings.Join(s.Command, " ")+strings.Join(s.Entrypoint, " "), testPassword) {
			t.Errorf("%s: the password is on the command line", name)
		}
	}
	want := []string{"flight-app.DATALAB_FLIGHT_STORE", "match-app.DATALAB_DB", "postgres.POSTGRES_PASSWORD", "predictor.DATALAB_FLIGHT_STORE"}
	if slices.Sort(got); !slices.Equal(got, want) {
		t.Errorf("the password is in %v, want %v", got, want)
	}
}

// DATALAB_DB (a managed database; datalab deploy passes it from the cloud's
// secret store) replaces the stack's database for all three apps.
func TestManagedDatabase(t *testing.T) {
	managed := "postgres://app:from-secret-store@db.internal.example:5432/datalab?sslmode=require"
	p := mustLoad(t, "POSTGRES_PASSWORD="+testPassword, "DATALAB_DB="+managed)
	for name, key := range map[string]string{"match-app": "DATALAB_DB", "flight-app": "DATALAB_FLIGHT_STORE", "predictor": "DATALAB_FLIGHT_STORE"} {
		if v := p.Services[name].Environment[key]; v == nil || *v != managed {
			t.Errorf("%s: %s = %v, want DATALAB_DB", name, key, v)
		}
	}
}

// Every DATALAB_* variable the file sets is one the CLI reads.
func TestVariablesAreReadByTheCLI(t *testing.T) {
	src := cliSource(t)
	p := mustLoad(t, "POSTGRES_PASSWORD="+testPassword)
	for _, name := range datalabServices {
		for k := range p.Services[name].Environment {
			if strings.HasPrefix(k, "DATALAB_") && !strings.Contains(src, `"`+k+`"`) {
				t.Errorf("%s: %s is not read by cmd/datalab", name, k)
			}
		}
	}
}

func cliSource(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../../cmd/datalab/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("cmd/datalab sources: %v", err)
	}
	var b strings.Builder
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(data)
		}
	}
	return b.String()
}

func sortedCopy(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func keys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// The Kafka security settings reach the flight app and the predictor: the
// SASL password as a compose secret from the host file
// DATALAB_KAFKA_PASSWORD_FILE names, mounted where
// DATALAB_KAFKA_SASL_PASSWORD_FILE points, never as an environment value;
// without the file the secret is empty (and unread without a mechanism).
func TestKafkaSecurityAsSecret(t *testing.T) {
	const kafkaPassword = "confluent-api-secret-for-tests"
	file := filepath.Join(t.TempDir(), "kafka-sasl-password")
	if err := os.WriteFile(file, []byte(kafkaPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := mustLoad(t, "POSTGRES_PASSWORD="+testPassword, "DATALAB_BROKERS=pkc-1.eu-west-1.aws.confluent.cloud:9092",
		"DATALAB_KAFKA_TLS=true", "DATALAB_KAFKA_SASL_MECHANISM=PLAIN", "DATALAB_KAFKA_SASL_USERNAME=APIKEY",
		"DATALAB_KAFKA_PASSWORD_FILE="+file)
	if got := p.Secrets["kafka_sasl_password"].File; got != file {
		t.Errorf("secret kafka_sasl_password from %q, want %q", got, file)
	}
	for _, name := range []string{"flight-app", "predictor"} {
		s := p.Services[name]
		var mounted bool
		for _, sec := range s.Secrets {
			mounted = mounted || sec.Source == "kafka_sasl_password"
		}
		if !mounted {
			t.Errorf("%s: secret kafka_sasl_password not mounted", name)
		}
		for k, want := range map[string]string{"DATALAB_BROKERS": "pkc-1.eu-west-1.aws.confluent.cloud:9092", "DATALAB_KAFKA_TLS": "true",
			"DATALAB_KAFKA_SASL_MECHANISM": "PLAIN", "DATALAB_KAFKA_SASL_USERNAME": "APIKEY",
			"DATALAB_KAFKA_SASL_PASSWORD_FILE": "/run/secrets/kafka_sasl_password"} {
			if v := s.Environment[k]; v == nil || *v != want {
				t.Errorf("%s: %s = %v, want %q", name, k, v, want)
			}
		}
	}
	for name, s := range p.Services {
		for k, v := range s.Environment {
			if v != nil && strings.Contains(*v, kafkaPassword) {
				t.Errorf("%s: the Kafka password is in the environment (%s)", name, k)
			}
		}
		if _, ok := s.Environment["DATALAB_KAFKA_SASL_PASSWORD"]; ok {
			t.Errorf("%s: DATALAB_KAFKA_SASL_PASSWORD set in the environment; use the secret file", name)
		}
	}
	// The default: the stack's own Kafka, no SASL, an empty secret.
	p = mustLoad(t, "POSTGRES_PASSWORD="+testPassword)
	if got := p.Secrets["kafka_sasl_password"].File; got != "/dev/null" {
		t.Errorf("default secret file %q, want /dev/null", got)
	}
	if v := p.Services["predictor"].Environment["DATALAB_BROKERS"]; v == nil || *v != "kafka:9092" {
		t.Errorf("default DATALAB_BROKERS %v, want kafka:9092", v)
	}
}
