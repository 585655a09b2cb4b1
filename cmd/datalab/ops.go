package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/ops/image"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

var imageOpts struct {
	out, version, commit, source, arch, caCerts, shell string
}

var imageCmd = &cobra.Command{
	Use:   "image",
	Short: "Build the datalab container images (OCI layout + docker load tarball) without Docker",
	Long: `image builds datalab statically (CGO_ENABLED=0, -trimpath, -buildvcs=false)
from the repository in the current directory and packages it, with no Docker
engine, as three OCI images that share their layers and differ only in the
entrypoint:

  datalab/serve:<version>      datalab serve (port 8080; model at /data/model, env DATALAB_MODEL)
  datalab/predictor:<version>  datalab predictor (env DATALAB_BROKERS; model at /data/flight-model)
  datalab/pipeline:<version>   datalab run (mount a checkout at /data; has /bin/sh for the stages)

Each image is an empty base plus: /usr/local/bin/datalab, the host's CA bundle
(/etc/ssl/certs/ca-certificates.crt, Debian's ca-certificates), /etc/passwd and
/etc/group with the user datalab (65532:65532), its home /home/datalab, the
working directory /data owned by it, and /tmp (1777). The pipeline image adds
a static busybox as /bin/sh (Debian's busybox-static), because datalab run
runs each stage with /bin/sh -c. Labels org.opencontainers.image.* carry the
commit, version, source and creation time.

Written into --out (atomically: a temporary directory renamed into place):
  oci/                  OCI image layout; index.json names the images serve,
                        predictor and pipeline (org.opencontainers.image.ref.name)
  datalab-images.tar    for docker load -i

Builds are reproducible: the same commit, Go toolchain, CA bundle and busybox
give the same digests. File times and the image creation time are the commit
time (or SOURCE_DATE_EPOCH when set), never the clock. Commit the working tree
first: uncommitted changes are built but labelled with the HEAD commit.
See docs/images.md for running the images with runc or docker.`,
	Example: `  datalab image
  datalab image --version v1.2.0 --out build/images
  docker load -i build/images/datalab-images.tar
  umoci unpack --image build/images/oci:serve bundle && runc run -b bundle serve`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		o := imageOpts
		ctx := cmd.Context()
		rev, created, err := image.Origin(".", o.commit, os.Getenv("SOURCE_DATE_EPOCH"))
		if err != nil {
			return err
		}
		if gs := stagerun.GitStateOf("."); o.commit == "" && gs.Dirty {
			slog.Warn("the working tree has uncommitted changes: the images hold them but are labelled with the HEAD commit, and their digests will differ from a clean build", "commit", rev.Commit)
		}
		version := o.version
		if version == "" {
			version = rev.DefaultVersion()
		}
		if err := image.CheckVersion(version); err != nil {
			return err
		}

		start := time.Now()
		bin, err := image.BuildBinary(ctx, image.BuildOptions{Dir: ".", Version: version, Arch: o.arch})
		if err != nil {
			return err
		}
		slog.Info("built static datalab", "version", version, "bytes", len(bin), "took", time.Since(start).Round(time.Millisecond))
		certs, err := image.HostCACerts(o.caCerts)
		if err != nil {
			return err
		}
		var shell []byte
		if o.shell != "" {
			if shell, err = image.HostShell(o.shell); err != nil {
				return err
			}
		} else {
			slog.Warn("--shell is empty: the pipeline image has no /bin/sh and cannot run stages")
		}
		set, err := image.Assemble(image.Inputs{Binary: bin, CACerts: certs, Shell: shell,
			Version: version, Commit: rev.Commit, Source: o.source, Created: created, Arch: o.arch})
		if err != nil {
			return err
		}
		if err := set.Write(o.out); err != nil {
			return err
		}
		d, err := set.Digests()
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "commit %s, created %s, version %s\n", rev.Commit, created.Format(time.RFC3339), version)
		fmt.Fprintf(w, "%-10s %s  %s\n", "index", d.Index, filepath.Join(o.out, image.LayoutDir))
		for _, im := range set.Images {
			fmt.Fprintf(w, "%-10s %s  %s\n", im.Flavour.Name, d.Images[im.Flavour.Name], im.Tag)
		}
		fmt.Fprintf(w, "docker load -i %s\n", filepath.Join(o.out, image.DockerTarball))
		return nil
	},
}

func init() {
	f := imageCmd.Flags()
	f.StringVar(&imageOpts.out, "out", image.DefaultOutDir, "output directory (OCI layout in oci/, docker tarball datalab-images.tar)")
	f.StringVar(&imageOpts.version, "version", envOr("DATALAB_VERSION", ""), "version: image tag, label and datalab --version (env DATALAB_VERSION; default a tag on the commit, else git-<12 hex of the commit>)")
	f.StringVar(&imageOpts.commit, "commit", "", "commit for the revision label and the creation time (default HEAD; outside a checkout a full id plus SOURCE_DATE_EPOCH); the binary is always built from the working tree")
	f.StringVar(&imageOpts.source, "source", image.DefaultSource, "repository URL for the org.opencontainers.image.source label")
	f.StringVar(&imageOpts.arch, "arch", runtime.GOARCH, "target architecture (GOARCH)")
	f.StringVar(&imageOpts.caCerts, "ca-certs", image.HostCACertsFile, "CA bundle copied into the images")
	f.StringVar(&imageOpts.shell, "shell", image.HostShellFile, "static busybox installed as /bin/sh in the pipeline image (empty: none, and datalab run cannot run stages in it)")
	rootCmd.AddCommand(imageCmd)
}

var healthcheckTimeout time.Duration

var healthcheckCmd = &cobra.Command{
	Use:   "healthcheck URL",
	Short: "GET a URL and exit 0 on a 2xx answer (container healthchecks: the images have no shell or curl)",
	Long: `healthcheck sends one GET to URL and exits 0 when the answer is 2xx,
printing the status and the start of the body. Any other status, a refused
connection or no answer within --timeout exits 1 with the reason (the
status and the start of the body, e.g. the JSON reason a /healthz gives
with 503).

The datalab images hold only the static binary — no shell, curl or wget —
so a container healthcheck runs the binary itself, e.g. in compose:

  healthcheck:
    test: ["CMD", "/usr/local/bin/datalab", "healthcheck", "http://127.0.0.1:8080/healthz"]

Redirects are followed; proxy variables are ignored (the check is meant
for the container's own address).`,
	Example: `  datalab healthcheck http://127.0.0.1:8080/healthz
  datalab healthcheck --timeout 2s http://127.0.0.1:9102/healthz`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		return runHealthcheck(cmd.Context(), args[0], healthcheckTimeout, cmd.OutOrStdout())
	},
}

func init() {
	healthcheckCmd.Flags().DurationVar(&healthcheckTimeout, "timeout", 3*time.Second,
		"how long to wait for the answer, body included (keep it below the healthcheck's own timeout)")
	rootCmd.AddCommand(healthcheckCmd)
}

// healthcheckBody bounds how much of the body is read and reported.
const healthcheckBody = 512

// runHealthcheck GETs target within timeout; nil means a 2xx answer, whose
// status and body start are written to out.
func runHealthcheck(ctx context.Context, target string, timeout time.Duration, out io.Writer) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("healthcheck: %q is not an http:// or https:// URL with a host", target)
	}
	if timeout <= 0 {
		return fmt.Errorf("healthcheck: --timeout %s: want a positive duration", timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	req.Header.Set("User-Agent", "datalab-healthcheck/"+version)
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("healthcheck: GET %s: no answer within %s", u.Redacted(), timeout)
		}
		return fmt.Errorf("healthcheck: GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, healthcheckBody))
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("healthcheck: GET %s: %s, body not complete within %s", u.Redacted(), resp.Status, timeout)
	}
	summary := resp.Status
	if b := strings.TrimSpace(strings.ToValidUTF8(string(body), "?")); b != "" {
		summary += ": " + b
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("healthcheck: GET %s: %s", u.Redacted(), summary)
	}
	fmt.Fprintln(out, summary)
	return nil
}
