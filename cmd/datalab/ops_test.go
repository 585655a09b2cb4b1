package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/ops/image"
)

func TestHealthcheck(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"OK"}`))
	})
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"ERROR","error":"kafka: not a member of the consumer group yet"}`))
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz", http.StatusFound)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /huge", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write(bytes.Repeat([]byte("x"), 1<<20))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	closed := httptest.NewServer(mux)
	closed.Close()

	for _, c := range []struct {
		name, url string
		timeout   time.Duration
		wantErr   string // "" for success
		wantOut   string
	}{
		{"2xx", srv.URL + "/healthz", time.Second, "", `200 OK: {"status":"OK"}`},
		{"redirect followed", srv.URL + "/moved", time.Second, "", "200 OK"},
		{"503 with its reason", srv.URL + "/down", time.Second, `503 Service Unavailable: {"status":"ERROR","error":"kafka: not a member`, ""},
		{"404", srv.URL + "/nothing", time.Second, "404 Not Found", ""},
		{"body cut at 512 bytes", srv.URL + "/huge", time.Second, "500 Internal Server Error: " + strings.Repeat("x", healthcheckBody), ""},
		{"timeout", srv.URL + "/slow", 200 * time.Millisecond, "no answer within 200ms", ""},
		{"refused", closed.URL + "/healthz", time.Second, "connect: connection refused", ""},
		{"not a URL", "127.0.0.1:8080/healthz", time.Second, "not an http:// or https:// URL", ""},
		{"no host", "http:///healthz", time.Second, "not an http:// or https:// URL", ""},
		{"zero timeout", srv.URL + "/healthz", 0, "want a positive duration", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			start := time.Now()
			err := runHealthcheck(context.Background(), c.url, c.timeout, &out)
			if took := time.Since(start); took > c.timeout+2*time.Second {
				t.Errorf("took %s with a %s timeout", took, c.timeout)
			}
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(out.String(), c.wantOut) {
					t.Errorf("output %q, want it to start with %q", out.String(), c.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), strings.Repeat("x", healthcheckBody+1)) {
				t.Error("error quotes more than the body's start")
			}
		})
	}
}

// The command exits non-zero through main's error path and takes --timeout.
func TestHealthcheckCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	defer rootCmd.SetOut(nil)
	defer func() { healthcheckTimeout = 3 * time.Second }()
	rootCmd.SetArgs([]string{"healthcheck", "--log-level", "warn", "--timeout", "1s", srv.URL + "/healthz"})
	err := rootCmd.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("error %v, want the 503", err)
	}
	if healthcheckTimeout != time.Second {
		t.Errorf("--timeout parsed as %s", healthcheckTimeout)
	}
}

// TestImageCommand: `datalab image` from the repository root writes the OCI
// layout and the docker tarball and prints a digest per image; with the same
// commit, version and SOURCE_DATE_EPOCH a second run prints the same
// digests.
func TestImageCommand(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds datalab and compresses it (~10 s)")
	}
	bin := buildDatalab(t)
	commit := strings.Repeat("0123456789", 4) // outside the repository: taken with SOURCE_DATE_EPOCH
	run := func(out string) string {
		t.Helper()
		stdout, code := datalabCmd(t, bin, testmirror.RepoRoot(), []string{"SOURCE_DATE_EPOCH=1700000000"},
			"image", "--log-level", "warn", "--out", out, "--version", "cli-test", "--commit", commit)
		if code != 0 {
			t.Fatalf("datalab image: exit %d\n%s", code, stdout)
		}
		return stdout
	}
	dir := t.TempDir()
	first := run(filepath.Join(dir, "a"))
	t.Log("\n" + first)
	for _, want := range []string{
		"commit " + commit + ", created 2023-11-14T22:13:20Z, version cli-test",
		"datalab/serve:cli-test", "datalab/predictor:cli-test", "datalab/pipeline:cli-test",
		"docker load -i " + filepath.Join(dir, "a", image.DockerTarball),
	} {
		if !strings.Contains(first, want) {
			t.Errorf("output lacks %q:\n%s", want, first)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^(index|serve|predictor|pipeline) +sha256:[0-9a-f]{64} `).FindAllString(first, -1)); n != 4 {
		t.Errorf("%d digest lines, want 4:\n%s", n, first)
	}
	for _, p := range []string{filepath.Join(image.LayoutDir, "index.json"), filepath.Join(image.LayoutDir, "oci-layout"), image.DockerTarball} {
		if _, err := os.Stat(filepath.Join(dir, "a", p)); err != nil {
			t.Error(err)
		}
	}
	second := run(filepath.Join(dir, "b"))
	digest := regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	if !slices.Equal(digest.FindAllString(first, -1), digest.FindAllString(second, -1)) {
		t.Errorf("second run printed other digests:\n%s\n%s", first, second)
	}
}
