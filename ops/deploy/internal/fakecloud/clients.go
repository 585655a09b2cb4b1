package fakecloud

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"google.golang.org/api/option"

	"github.com/datalabhq/datalab/ops/deploy"
)

// Quiet is a logger for tests that discards everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// ClientOptions point a Compute Engine client at the fake, unauthenticated.
func (g *GCE) ClientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(g.Endpoint()), option.WithoutAuthentication()}
}

// SDKConfig loads an SDK configuration the way the CLI does
// (config.LoadDefaultConfig), with throwaway credentials set in the test's
// environment, no shared config files, no instance metadata, no retries,
// and the fake as the endpoint of every service.
func (a *AWS) SDKConfig(t *testing.T, region string) awssdk.Config {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-only-not-a-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(region), config.WithBaseEndpoint(a.URL()), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Planner is a deploy target's Deployer.
type Planner interface {
	Plan(context.Context) (*deploy.Deployment, error)
}

// Deploy plans and applies, failing t on any error, and returns what it
// applied.
func Deploy(t *testing.T, p Planner) *deploy.Deployment {
	t.Helper()
	dep, err := p.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := dep.Apply(context.Background(), Quiet); err != nil {
		t.Fatal(err)
	}
	return dep
}
