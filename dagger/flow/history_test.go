package flow_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"

	"dagger/datalab/fakeengine"
	"dagger/datalab/flow"
)

const bucket = "s3://lab-artifacts/ci?region=eu-west-1"

var overrides = []string{"matches.forests.default.max_depth=12", "matches.variants=[form3, elo]"}

// remoteCalls are the functions called with a remote (and, for pipeline,
// overrides), with what their Go container must run; TestRemoteGraphs and
// TestFunctionsRunRealCommands use them.
var remoteCalls = []struct {
	name  string
	gcp   bool // credentials include the GCP key (else AWS only)
	call  func(context.Context, *flow.Lab, flow.CloudCredentials) (*dagger.Directory, error)
	execs [][]string
	out   []string
}{
	{
		name: "run",
		gcp:  true,
		call: func(ctx context.Context, l *flow.Lab, creds flow.CloudCredentials) (*dagger.Directory, error) {
			return l.Run(ctx, flow.History{Remote: bucket, Credentials: creds}, overrides)
		},
		execs: [][]string{setup, buildCLI, {"datalab", "run", "--remote", bucket,
			"--set=matches.forests.default.max_depth=12", "--set=matches.variants=[form3, elo]"}},
		out: []string{"/src/reports", "/src/build/models", "/src/runs"},
	},
	{
		name: "report",
		call: func(ctx context.Context, l *flow.Lab, creds flow.CloudCredentials) (*dagger.Directory, error) {
			return l.Report(ctx, flow.History{Remote: bucket, Credentials: creds})
		},
		execs: [][]string{buildCLI, {"datalab", "run", "report-matches", "report-flights", "--remote", bucket}},
		out:   []string{"/src/reports"},
	},
}

// TestRemoteGraphs: with a bucket, pipeline and report run `datalab run
// --remote URL` (pipeline with each override as one --set=… word) in the
// usual container; the credentials reach it only as secret variables and a
// secret file, by the caller's secret IDs, their plaintexts never requested
// or sent; a variable holding the current time keeps the engine from
// answering from its cache (the bucket is an input it cannot see); no
// history directory is mounted.
func TestRemoteGraphs(t *testing.T) {
	for _, rc := range remoteCalls {
		t.Run(rc.name, func(t *testing.T) {
			e, c, lab := session(t, true)
			creds, plain := callerCredentials(e, c, rc.gcp)
			before := time.Now().UTC()
			dir, err := rc.call(context.Background(), lab, creds)
			if err != nil {
				t.Fatal(err)
			}
			got := e.Describe(ranContainer(t, e))
			if !reflect.DeepEqual(got.Execs, rc.execs) {
				t.Errorf("execs =\n  %q\nwant\n  %q", got.Execs, rc.execs)
			}
			checkExecOpts(t, "", got, nil)
			want := map[string]string{
				"AWS_ACCESS_KEY_ID":     "caller-aws-id",
				"AWS_SECRET_ACCESS_KEY": "caller-aws-key",
				"AWS_SESSION_TOKEN":     "caller-aws-tok",
			}
			if rc.gcp {
				want["file "+flow.GCPKeyPath] = "caller-gcp-key"
			}
			checkSecrets(t, e, got, plain, want)
			at, err := time.Parse(time.RFC3339Nano, got.Env[flow.SyncEnv])
			if err != nil || at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
				t.Errorf("%s = %q (%v), want the time of the call", flow.SyncEnv, got.Env[flow.SyncEnv], err)
			}
			wantEnv := map[string]string{"GOTOOLCHAIN": "local", "DATALAB_MIRROR": "/mirror", flow.SyncEnv: got.Env[flow.SyncEnv]}
			if rc.gcp {
				wantEnv["GOOGLE_APPLICATION_CREDENTIALS"] = flow.GCPKeyPath
			}
			if !reflect.DeepEqual(got.Env, wantEnv) {
				t.Errorf("env = %v, want %v", got.Env, wantEnv)
			}
			if want := map[string]fakeengine.Chain{"/src": loads(srcID), "/mirror": loads(mirrorID)}; !reflect.DeepEqual(got.Mounts, want) {
				t.Errorf("mounts = %v, want %v", got.Mounts, want)
			}
			if paths := outputPaths(t, e, dir); !reflect.DeepEqual(paths, rc.out) {
				t.Errorf("result made of %q, want %q", paths, rc.out)
			}
		})
	}
}

// TestRunHistoryDir: without a bucket, the caller's history directory
// is mounted at /history; its runs are merged into reports/ before the run,
// the run's added after it, and the result holds history/ for the next
// call. Nothing busts the engine's cache: every input is content-addressed.
func TestRunHistoryDir(t *testing.T) {
	e, c, lab := session(t, false)
	dir, err := lab.Run(context.Background(), flow.History{Dir: c.LoadDirectoryFromID("caller-history")},
		[]string{"matches.forests.default.max_depth=12"})
	if err != nil {
		t.Fatal(err)
	}
	got := e.Describe(ranContainer(t, e))
	want := [][]string{setup, buildCLI, syncPull, {"datalab", "run", "--set=matches.forests.default.max_depth=12"}, syncPush}
	if !reflect.DeepEqual(got.Execs, want) {
		t.Errorf("execs =\n  %q\nwant\n  %q", got.Execs, want)
	}
	if wantMounts := map[string]fakeengine.Chain{"/src": loads(srcID), "/history": loads("caller-history")}; !reflect.DeepEqual(got.Mounts, wantMounts) {
		t.Errorf("mounts = %v, want %v", got.Mounts, wantMounts)
	}
	if want := map[string]string{"GOTOOLCHAIN": "local"}; !reflect.DeepEqual(got.Env, want) {
		t.Errorf("env = %v, want %v", got.Env, want)
	}
	if len(got.Secrets)+len(got.SecretEnv) > 0 {
		t.Errorf("secrets without a remote: %v %v", got.Secrets, got.SecretEnv)
	}
	if paths := outputPaths(t, e, dir); !reflect.DeepEqual(paths, []string{"/src/reports", "/src/build/models", "/src/runs", "/history"}) {
		t.Errorf("result made of %q", paths)
	}
}

// TestHistoryRefused: what the CLI could not use is refused before any
// engine call, saying what to give instead.
func TestHistoryRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(*flow.Lab, *dagger.Client, flow.CloudCredentials) error
		says string
	}{
		{"a directory remote", func(l *flow.Lab, _ *dagger.Client, _ flow.CloudCredentials) error {
			_, err := l.Run(context.Background(), flow.History{Remote: "/mnt/lab"}, nil)
			return err
		}, "want an s3:// or gs:// bucket URL"},
		{"a file:// remote", func(l *flow.Lab, _ *dagger.Client, _ flow.CloudCredentials) error {
			_, err := l.Report(context.Background(), flow.History{Remote: "file:///lab"})
			return err
		}, "pass the last call's history/ as --history"},
		{"remote and history directory", func(l *flow.Lab, c *dagger.Client, _ flow.CloudCredentials) error {
			_, err := l.Run(context.Background(), flow.History{Remote: bucket, Dir: c.LoadDirectoryFromID("caller-history")}, nil)
			return err
		}, "not both"},
		{"credentials without a remote", func(l *flow.Lab, _ *dagger.Client, creds flow.CloudCredentials) error {
			_, err := l.Run(context.Background(), flow.History{Credentials: creds}, nil)
			return err
		}, "no remote"},
		{"history directory to report", func(l *flow.Lab, c *dagger.Client, _ flow.CloudCredentials) error {
			_, err := l.Report(context.Background(), flow.History{Dir: c.LoadDirectoryFromID("caller-history")})
			return err
		}, "for the run function"},
		{"an override without =", func(l *flow.Lab, _ *dagger.Client, _ flow.CloudCredentials) error {
			_, err := l.Run(context.Background(), flow.History{}, []string{"matches.test_year"})
			return err
		}, "want key.path=value"},
		{"an override without a key", func(l *flow.Lab, _ *dagger.Client, _ flow.CloudCredentials) error {
			_, err := l.Run(context.Background(), flow.History{}, []string{"=12"})
			return err
		}, "want key.path=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, c, lab := session(t, false)
			creds, _ := callerCredentials(e, c, false)
			err := tc.call(lab, c, creds)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %v, want one saying %q", err, tc.says)
			}
			if n := len(e.Evals()); n != 0 {
				t.Errorf("%d evaluations sent for a refused call", n)
			}
		})
	}
}
