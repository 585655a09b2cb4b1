package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

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
