package flow

import (
	"context"
	"fmt"
	"slices"
	"strings"

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

// DeployCredentials are the cloud credentials `datalab deploy` reads from its
// environment, as Dagger secrets; nil ones are left out. They reach the
// container by ID only, as a secret file or secret variables.
type DeployCredentials struct {
	GCPKey             *dagger.Secret // GCE: service account key JSON, at GCPKeyPath
	AWSAccessKeyID     *dagger.Secret // AWS: AWS_ACCESS_KEY_ID
	AWSSecretAccessKey *dagger.Secret // AWS: AWS_SECRET_ACCESS_KEY
	AWSSessionToken    *dagger.Secret // AWS: AWS_SESSION_TOKEN
}

// Deploy runs `datalab deploy <target> <flags…>` with the credentials and
// returns its output: the plan, then what it changed. With --plan
// --exit-code, a plan with changes exits 2, which comes back as an error
// with that exit code.
func (l *Lab) Deploy(ctx context.Context, target string, flags []string, creds DeployCredentials) (string, error) {
	if !slices.Contains(DeployTargets, target) {
		return "", fmt.Errorf("deploy: target %q: want one of %s", target, strings.Join(DeployTargets, ", "))
	}
	ctr := l.CLI()
	if creds.GCPKey != nil {
		ctr = ctr.WithMountedSecret(GCPKeyPath, creds.GCPKey).
			WithEnvVariable("GOOGLE_APPLICATION_CREDENTIALS", GCPKeyPath)
	}
	for _, v := range []struct {
		name   string
		secret *dagger.Secret
	}{
		{"AWS_ACCESS_KEY_ID", creds.AWSAccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", creds.AWSSecretAccessKey},
		{"AWS_SESSION_TOKEN", creds.AWSSessionToken},
	} {
		if v.secret != nil {
			ctr = ctr.WithSecretVariable(v.name, v.secret)
		}
	}
	out, err := ctr.WithExec(append([]string{"datalab", "deploy", target}, flags...)).Stdout(ctx)
	if err != nil {
		return "", failed("deploy "+target, err)
	}
	return out, nil
}
