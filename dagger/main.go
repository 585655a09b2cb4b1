// The datalab Dagger module: the lab's pipeline stages in containers, called
// as `dagger call <function> --src .` (docs/dagger.md). Each function is one
// line over package flow, which builds the containers with the dagger.io/dagger
// SDK; this file only moves objects between the module's generated client and
// the SDK's, by ID, since the two are different Go types over one session.
package main

import (
	"context"
	"fmt"
	"strings"

	sdk "dagger.io/dagger"

	"dagger/datalab/flow"
	"dagger/datalab/internal/dagger"
)

// Datalab runs datalab's pipeline stages in containers.
type Datalab struct {
	// GoImage replaces flow.GoImage when set (New's goImage).
	// +private
	GoImage string
}

// New configures the module for every function of one call: `dagger call
// [--go-image REF] <function> …`.
func New(
	// the image every function builds and runs in, instead of golang:1.26.8-bookworm pinned by digest (flow.GoImage): a registry mirror's copy, e.g. registry.example.com/library/golang:1.26.8-bookworm@sha256:…
	// +optional
	goImage string,
) *Datalab {
	return &Datalab{GoImage: goImage}
}

// Test runs the repository's whole test suite (make test, the README's test command) and
// returns its output.
func (m *Datalab) Test(
	ctx context.Context,
	// the repository
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// a mirror of the data sets (as DATALAB_MIRROR)
	// +optional
	mirror *dagger.Directory,
) (string, error) {
	var out string
	err := m.withLab(ctx, src, mirror, func(_ *sdk.Client, lab *flow.Lab) (err error) {
		out, err = lab.Test(ctx)
		return err
	})
	return out, err
}

// Ingest runs the ingest stages (each pulls its data sets) and returns build/.
func (m *Datalab) Ingest(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// +optional
	mirror *dagger.Directory,
) (*dagger.Directory, error) {
	return m.directory(ctx, src, mirror, (*flow.Lab).Ingest)
}

// Train runs the training stages and what they need, and returns build/models.
func (m *Datalab) Train(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// +optional
	mirror *dagger.Directory,
) (*dagger.Directory, error) {
	return m.directory(ctx, src, mirror, (*flow.Lab).Train)
}

// Evaluate runs the evaluation stages and what they need, and returns build/.
func (m *Datalab) Evaluate(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// +optional
	mirror *dagger.Directory,
) (*dagger.Directory, error) {
	return m.directory(ctx, src, mirror, (*flow.Lab).Evaluate)
}

// Notebooks runs the pipeline and every notebook, and returns
// reports/notebooks.
func (m *Datalab) Notebooks(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// +optional
	mirror *dagger.Directory,
) (*dagger.Directory, error) {
	return m.directory(ctx, src, mirror, (*flow.Lab).Notebooks)
}

// Report runs the report stages and what they need, and returns the report
// site (reports/). With a remote, unchanged stages are fetched from the
// bucket instead of recomputed, and the site merges the earlier runs'
// reports kept there (docs/ci.md). Never cached: with a remote the
// bucket's state is an input the engine cannot see.
//
// +cache="never"
func (m *Datalab) Report(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// +optional
	mirror *dagger.Directory,
	// a bucket for the stages' outputs and the site's history, as datalab run --remote takes it: s3://bucket/prefix?region=… or gs://bucket/prefix
	// +optional
	remote string,
	// for the remote: AWS_ACCESS_KEY_ID
	// +optional
	awsAccessKeyId *dagger.Secret,
	// for the remote: AWS_SECRET_ACCESS_KEY
	// +optional
	awsSecretAccessKey *dagger.Secret,
	// for the remote: AWS_SESSION_TOKEN
	// +optional
	awsSessionToken *dagger.Secret,
	// for a gs:// remote: a service account key (JSON), mounted at /run/secrets/gcp.json and named in GOOGLE_APPLICATION_CREDENTIALS
	// +optional
	gcpCredentials *dagger.Secret,
) (*dagger.Directory, error) {
	return m.directoryWith(ctx, src, mirror, func(c *sdk.Client, lab *flow.Lab) (*sdk.Directory, error) {
		creds, err := cloudCredentials(ctx, c, gcpCredentials, awsAccessKeyId, awsSecretAccessKey, awsSessionToken)
		if err != nil {
			return nil, err
		}
		return lab.Report(ctx, flow.History{Remote: remote, Credentials: creds})
	})
}

// Run runs everything, with the parameter overrides set, and returns
// reports/ (the site, notebooks included), models/ and runs/ (run records
// with lineage). The site keeps its history: with a remote (a bucket),
// unchanged stages are fetched instead of recomputed and earlier runs'
// reports are merged from the bucket; without one, from --history, the
// history/ directory an earlier call returned — the result then holds
// history/ too, for the next call (docs/ci.md). Never cached: with a remote
// the bucket's state is an input the engine cannot see.
//
// +cache="never"
func (m *Datalab) Run(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// +optional
	mirror *dagger.Directory,
	// parameter overrides, key.path=value (datalab run --set), e.g. matches.forests.default.max_depth=12
	// +optional
	set []string,
	// a bucket for the stages' outputs and the site's history, as datalab run --remote takes it: s3://bucket/prefix?region=… or gs://bucket/prefix
	// +optional
	remote string,
	// for the remote: AWS_ACCESS_KEY_ID
	// +optional
	awsAccessKeyId *dagger.Secret,
	// for the remote: AWS_SECRET_ACCESS_KEY
	// +optional
	awsSecretAccessKey *dagger.Secret,
	// for the remote: AWS_SESSION_TOKEN
	// +optional
	awsSessionToken *dagger.Secret,
	// for a gs:// remote: a service account key (JSON), mounted at /run/secrets/gcp.json and named in GOOGLE_APPLICATION_CREDENTIALS
	// +optional
	gcpCredentials *dagger.Secret,
	// without a remote: the history/ directory an earlier pipeline call returned (the report site's runs so far)
	// +optional
	history *dagger.Directory,
) (*dagger.Directory, error) {
	return m.directoryWith(ctx, src, mirror, func(c *sdk.Client, lab *flow.Lab) (*sdk.Directory, error) {
		creds, err := cloudCredentials(ctx, c, gcpCredentials, awsAccessKeyId, awsSecretAccessKey, awsSessionToken)
		if err != nil {
			return nil, err
		}
		h := flow.History{Remote: remote, Credentials: creds}
		if history != nil {
			if h.Dir, err = toSDK(ctx, c, history); err != nil {
				return nil, err
			}
		}
		return lab.Run(ctx, h, set)
	})
}

// SparkTrain trains flight-model variants with Spark in the apache/spark
// image (`datalab train flights --engine spark --runner local`) on the ingest
// stages' Parquet files, and returns build/models/flights-spark: one
// PipelineModel directory per variant.
func (m *Datalab) SparkTrain(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// +optional
	mirror *dagger.Directory,
	// variants of params.flights to train (default: its serve_variant)
	// +optional
	variant []string,
) (*dagger.Directory, error) {
	return m.directory(ctx, src, mirror, func(lab *flow.Lab, ctx context.Context) (*sdk.Directory, error) {
		return lab.SparkTrain(ctx, variant)
	})
}

// Image builds the datalab images (serve, predictor, pipeline) without Docker
// and returns build/images: the OCI layout (oci/) and the docker load
// tarball (datalab-images.tar).
func (m *Datalab) Image(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// the images' tag and version label (default: from the commit)
	// +optional
	version string,
) (*dagger.Directory, error) {
	return m.directory(ctx, src, nil, func(lab *flow.Lab, ctx context.Context) (*sdk.Directory, error) {
		return lab.Image(ctx, version)
	})
}

// Publish builds the images and pushes them to <registry>/datalab-<name>:<tag>,
// logging in as username with the password secret; it returns the published
// references with their digests. Never cached: every call pushes.
//
// +cache="never"
func (m *Datalab) Publish(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// where to push, e.g. ghcr.io/me
	registry string,
	username string,
	// e.g. env:GHCR_TOKEN
	password *dagger.Secret,
	// the images' tag and version label (default: from the commit)
	// +optional
	version string,
) ([]string, error) {
	var refs []string
	err := m.withLab(ctx, src, nil, func(c *sdk.Client, lab *flow.Lab) error {
		pw, err := secretToSDK(ctx, c, password)
		if err != nil {
			return err
		}
		refs, err = lab.Publish(ctx, registry, username, pw, version)
		return err
	})
	return refs, err
}

// Deploy runs `datalab deploy <target> <flags>` (docs/deploy-cloud.md) with
// the cloud credentials as secrets, and returns its output: the plan, then
// what it changed. Never cached: every call deploys.
//
// +cache="never"
func (m *Datalab) Deploy(
	ctx context.Context,
	// +defaultPath="/"
	// +ignore=[".bin", "build", "runs", ".datalab"]
	src *dagger.Directory,
	// gce or aws
	target string,
	// the target's flags, separated by spaces, e.g. "--project p --zone europe-west1-b --db-secret projects/p/secrets/db --plan"
	// +optional
	flags string,
	// GCE: a service account key (JSON), mounted at /run/secrets/gcp.json and named in GOOGLE_APPLICATION_CREDENTIALS
	// +optional
	gcpCredentials *dagger.Secret,
	// AWS: AWS_ACCESS_KEY_ID
	// +optional
	awsAccessKeyId *dagger.Secret,
	// AWS: AWS_SECRET_ACCESS_KEY
	// +optional
	awsSecretAccessKey *dagger.Secret,
	// AWS: AWS_SESSION_TOKEN
	// +optional
	awsSessionToken *dagger.Secret,
) (string, error) {
	var out string
	err := m.withLab(ctx, src, nil, func(c *sdk.Client, lab *flow.Lab) error {
		creds, err := cloudCredentials(ctx, c, gcpCredentials, awsAccessKeyId, awsSecretAccessKey, awsSessionToken)
		if err != nil {
			return err
		}
		out, err = lab.Deploy(ctx, target, strings.Fields(flags), creds)
		return err
	})
	return out, err
}

// cloudCredentials loads the credential secrets given (nil ones stay nil)
// into the SDK's client, by ID.
func cloudCredentials(ctx context.Context, c *sdk.Client, gcp, awsID, awsKey, awsToken *dagger.Secret) (flow.CloudCredentials, error) {
	var creds flow.CloudCredentials
	for _, s := range []struct {
		from *dagger.Secret
		to   **sdk.Secret
	}{
		{gcp, &creds.GCPKey},
		{awsID, &creds.AWSAccessKeyID},
		{awsKey, &creds.AWSSecretAccessKey},
		{awsToken, &creds.AWSSessionToken},
	} {
		var err error
		if *s.to, err = secretToSDK(ctx, c, s.from); err != nil {
			return creds, err
		}
	}
	return creds, nil
}

// withLab connects the SDK to the session this module runs in, loads src and
// mirror into it by ID and calls fn with a flow.Lab over them.
func (m *Datalab) withLab(ctx context.Context, src, mirror *dagger.Directory, fn func(*sdk.Client, *flow.Lab) error) error {
	c, err := sdk.Connect(ctx)
	if err != nil {
		return fmt.Errorf("connect to the engine session: %w", err)
	}
	defer c.Close()
	s, err := toSDK(ctx, c, src)
	if err != nil {
		return err
	}
	opts := []flow.Option{flow.WithGoImage(m.GoImage)}
	if mirror != nil {
		mir, err := toSDK(ctx, c, mirror)
		if err != nil {
			return err
		}
		opts = append(opts, flow.WithMirror(mir))
	}
	return fn(c, flow.New(c, s, opts...))
}

// directory runs a flow function that returns a directory and hands the
// directory back to the module's client by ID.
func (m *Datalab) directory(ctx context.Context, src, mirror *dagger.Directory,
	fn func(*flow.Lab, context.Context) (*sdk.Directory, error)) (*dagger.Directory, error) {
	return m.directoryWith(ctx, src, mirror, func(_ *sdk.Client, lab *flow.Lab) (*sdk.Directory, error) {
		return fn(lab, ctx)
	})
}

// directoryWith is directory for functions that also need the SDK client
// (to load secrets or more directories by ID).
func (m *Datalab) directoryWith(ctx context.Context, src, mirror *dagger.Directory,
	fn func(*sdk.Client, *flow.Lab) (*sdk.Directory, error)) (*dagger.Directory, error) {
	var out *dagger.Directory
	err := m.withLab(ctx, src, mirror, func(c *sdk.Client, lab *flow.Lab) error {
		dir, err := fn(c, lab)
		if err != nil {
			return err
		}
		id, err := dir.ID(ctx)
		if err != nil {
			return err
		}
		out = dag.LoadDirectoryFromID(dagger.DirectoryID(id))
		return nil
	})
	return out, err
}

// secretToSDK loads a secret of the module's client into the SDK's, by ID
// (never by value); nil stays nil.
func secretToSDK(ctx context.Context, c *sdk.Client, s *dagger.Secret) (*sdk.Secret, error) {
	if s == nil {
		return nil, nil
	}
	id, err := s.ID(ctx)
	if err != nil {
		return nil, err
	}
	return c.LoadSecretFromID(sdk.SecretID(id)), nil
}

// toSDK loads a directory of the module's client into the SDK's, by ID.
func toSDK(ctx context.Context, c *sdk.Client, d *dagger.Directory) (*sdk.Directory, error) {
	id, err := d.ID(ctx)
	if err != nil {
		return nil, err
	}
	return c.LoadDirectoryFromID(sdk.DirectoryID(id)), nil
}
