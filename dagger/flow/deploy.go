package flow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"dagger.io/dagger"
)

// DeployTargets are the `datalab deploy` subcommands Deploy runs. It refuses
// any other: for an unknown word cobra prints deploy's help and exits 0, so
// `datalab deploy k8s` would "succeed" without deploying anything. k8s joins
// the list when `datalab deploy k8s` exists (TestFunctionsRunRealCommands
// checks every entry against the CLI).
var DeployTargets = []string{"gce", "aws"}

// GCPKeyPath is where a GCP service account key is mounted, as the file
// GOOGLE_APPLICATION_CREDENTIALS names (docs/deploy-cloud.md).
const GCPKeyPath = "/run/secrets/gcp.json"

// CloudCredentials are the cloud credentials a datalab command reads from
// its environment — `datalab deploy` and `datalab run --remote` alike — as
// Dagger secrets; nil ones are left out. They reach the container by ID
// only, as a secret file or secret variables, never as plain values.
type CloudCredentials struct {
	GCPKey             *dagger.Secret // Google: service account key JSON, at GCPKeyPath
	AWSAccessKeyID     *dagger.Secret // AWS: AWS_ACCESS_KEY_ID
	AWSSecretAccessKey *dagger.Secret // AWS: AWS_SECRET_ACCESS_KEY
	AWSSessionToken    *dagger.Secret // AWS: AWS_SESSION_TOKEN
}

// apply mounts the GCP key at GCPKeyPath (named in
// GOOGLE_APPLICATION_CREDENTIALS) and sets the AWS secret variables, for
// the credentials given.
func (c CloudCredentials) apply(ctr *dagger.Container) *dagger.Container {
	if c.GCPKey != nil {
		ctr = ctr.WithMountedSecret(GCPKeyPath, c.GCPKey).
			WithEnvVariable("GOOGLE_APPLICATION_CREDENTIALS", GCPKeyPath)
	}
	for _, v := range []struct {
		name   string
		secret *dagger.Secret
	}{
		{"AWS_ACCESS_KEY_ID", c.AWSAccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", c.AWSSecretAccessKey},
		{"AWS_SESSION_TOKEN", c.AWSSessionToken},
	} {
		if v.secret != nil {
			ctr = ctr.WithSecretVariable(v.name, v.secret)
		}
	}
	return ctr
}

// empty reports whether no credential is given.
func (c CloudCredentials) empty() bool {
	return c.GCPKey == nil && c.AWSAccessKeyID == nil && c.AWSSecretAccessKey == nil && c.AWSSessionToken == nil
}

// DeployEnv is set to the time of the call in the deploy container. The
// engine answers a command it has run with the same inputs from its cache,
// and a secret's value is not an input (only its name is), so without a
// changing input a second deploy from the same source and flags would not
// run — nor would one with new credentials. Seen on the real engine:
// TestRealEngineCachesAcrossSecretValues.
const DeployEnv = "DATALAB_DEPLOY_AT"

// Deploy runs `datalab deploy <target> <flags…>` with the credentials and
// returns its output: the plan, then what it changed. With --plan
// --exit-code, a plan with changes exits 2, which comes back as an error
// with that exit code.
func (l *Lab) Deploy(ctx context.Context, target string, flags []string, creds CloudCredentials) (string, error) {
	if !slices.Contains(DeployTargets, target) {
		return "", fmt.Errorf("deploy: target %q: want one of %s", target, strings.Join(DeployTargets, ", "))
	}
	ctr := creds.apply(l.CLI()).WithEnvVariable(DeployEnv, time.Now().UTC().Format(time.RFC3339Nano))
	out, err := ctr.WithExec(append([]string{"datalab", "deploy", target}, flags...)).Stdout(ctx)
	if err != nil {
		return "", failed("deploy "+target, err)
	}
	return out, nil
}
