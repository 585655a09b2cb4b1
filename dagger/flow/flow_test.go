package flow_test

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"dagger.io/dagger"

	"dagger/datalab/fakeengine"
	"dagger/datalab/flow"
)

// The caller's objects: IDs the fake did not hand out, as the engine passes a
// module the --src and --mirror of `dagger call`.
const (
	srcID    = "caller-src"
	mirrorID = "caller-mirror"
)

var (
	buildCLI = []string{"go", "build", "-o", "/usr/local/bin/datalab", "./cmd/datalab"}
	setup    = []string{"bash", ".ci/setup", "notebooks"}
)

// function is one flow function as the module calls it.
type function struct {
	name  string
	call  func(context.Context, *flow.Lab) (any, error)
	execs [][]string // in the order the container runs them
	out   []string   // directories of /src the result is made of
}

func dirFn(f func(*flow.Lab, context.Context) (*dagger.Directory, error)) func(context.Context, *flow.Lab) (any, error) {
	return func(ctx context.Context, l *flow.Lab) (any, error) { return f(l, ctx) }
}

var functions = []function{
	{
		name:  "test",
		call:  func(ctx context.Context, l *flow.Lab) (any, error) { return l.Test(ctx) },
		execs: [][]string{{"bash", ".ci/run"}},
	},
	{
		name:  "ingest",
		call:  dirFn((*flow.Lab).Ingest),
		execs: [][]string{buildCLI, {"datalab", "run", "ingest-matches", "ingest-martj42", "ingest-bts2008", "ingest-bts2017", "ingest-flights3m"}},
		out:   []string{"/src/build"},
	},
	{
		name:  "train",
		call:  dirFn((*flow.Lab).Train),
		execs: [][]string{buildCLI, {"datalab", "run", "train-matches", "train-flights"}},
		out:   []string{"/src/build/models"},
	},
	{
		name:  "evaluate",
		call:  dirFn((*flow.Lab).Evaluate),
		execs: [][]string{buildCLI, {"datalab", "run", "evaluate-matches", "evaluate-flights"}},
		out:   []string{"/src/build"},
	},
	{
		name:  "report",
		call:  dirFn((*flow.Lab).Report),
		execs: [][]string{buildCLI, {"datalab", "run", "report-matches", "report-flights"}},
		out:   []string{"/src/reports"},
	},
	{
		name: "image",
		call: dirFn(func(l *flow.Lab, ctx context.Context) (*dagger.Directory, error) { return l.Image(ctx, "") }),
		execs: [][]string{buildCLI, {"apt-get", "update", "-qq"},
			{"apt-get", "install", "-y", "-qq", "--no-install-recommends", "busybox-static"},
			{"datalab", "image", "--out", "build/images"}},
		out: []string{"/src/build/images"},
	},
	{
		name:  "notebooks",
		call:  dirFn((*flow.Lab).Notebooks),
		execs: [][]string{setup, buildCLI, {"datalab", "run", "notebooks"}},
		out:   []string{"/src/reports/notebooks"},
	},
	{
		name:  "pipeline",
		call:  dirFn((*flow.Lab).Pipeline),
		execs: [][]string{setup, buildCLI, {"datalab", "run"}},
		out:   []string{"/src/reports", "/src/build/models", "/src/runs"},
	},
}

// session starts a fake engine and a Lab over the caller's src (and mirror).
func session(t *testing.T, mirror bool) (*fakeengine.Engine, *dagger.Client, *flow.Lab) {
	t.Helper()
	e := fakeengine.Start(t)
	c := e.Connect(t)
	var opts []flow.Option
	if mirror {
		opts = append(opts, flow.WithMirror(c.LoadDirectoryFromID(mirrorID)))
	}
	return e, c, flow.New(c, c.LoadDirectoryFromID(srcID), opts...)
}

// ranContainer is the container chain of the first evaluation that ran
// commands: what the function's commands run in.
func ranContainer(t *testing.T, e *fakeengine.Engine) fakeengine.Chain {
	t.Helper()
	for _, ev := range e.Evals() {
		for _, c := range ev.Chain {
			if c.Field == "withExec" {
				return ev.Chain
			}
		}
	}
	t.Fatal("no evaluation ran a command")
	return nil
}

func loads(id string) fakeengine.Chain {
	return fakeengine.Chain{{Field: "loadDirectoryFromID", Args: map[string]any{"id": id}}}
}

var digestRef = regexp.MustCompile(`^[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}$`)

func TestGoImageIsPinnedByDigest(t *testing.T) {
	if !digestRef.MatchString(flow.GoImage) {
		t.Fatalf("GoImage %q is not tag@sha256:<64 hex>", flow.GoImage)
	}
}

// TestFunctionGraphs checks, for every function, the container the fake
// engine was asked to run: the pinned image, the cache volumes, the
// repository and mirror mounts, the environment, the commands in order, and
// the directories the result is made of.
func TestFunctionGraphs(t *testing.T) {
	for _, fn := range functions {
		for _, mirror := range []bool{false, true} {
			name := fn.name
			if mirror {
				name += "/mirror"
			}
			t.Run(name, func(t *testing.T) {
				e, _, lab := session(t, mirror)
				res, err := fn.call(context.Background(), lab)
				if err != nil {
					t.Fatal(err)
				}
				got := e.Describe(ranContainer(t, e))

				if want := []string{flow.GoImage}; !reflect.DeepEqual(got.From, want) {
					t.Errorf("from = %q, want %q", got.From, want)
				}
				wantCaches := map[string]string{"/go/pkg/mod": "datalab-go-mod", "/root/.cache/go-build": "datalab-go-build"}
				if !reflect.DeepEqual(got.Caches, wantCaches) {
					t.Errorf("cache mounts = %v, want %v", got.Caches, wantCaches)
				}
				wantMounts := map[string]fakeengine.Chain{"/src": loads(srcID)}
				wantEnv := map[string]string{"GOTOOLCHAIN": "local"}
				if mirror {
					wantMounts["/mirror"] = loads(mirrorID)
					wantEnv["DATALAB_MIRROR"] = "/mirror"
				}
				if !reflect.DeepEqual(got.Mounts, wantMounts) {
					t.Errorf("directory mounts = %v, want %v", got.Mounts, wantMounts)
				}
				if !reflect.DeepEqual(got.Env, wantEnv) {
					t.Errorf("env = %v, want %v", got.Env, wantEnv)
				}
				if got.Workdir != "/src" {
					t.Errorf("workdir = %q, want /src", got.Workdir)
				}
				if !reflect.DeepEqual(got.Execs, fn.execs) {
					t.Errorf("execs =\n  %q\nwant\n  %q", got.Execs, fn.execs)
				}
				if len(got.SecretEnv) > 0 || len(got.Secrets) > 0 || len(got.Auth) > 0 {
					t.Errorf("secrets in a function that takes none: %v %v %v", got.SecretEnv, got.Secrets, got.Auth)
				}
				if fn.out != nil {
					dir, ok := res.(*dagger.Directory)
					if !ok {
						t.Fatalf("result %T, want a directory", res)
					}
					if paths := outputPaths(t, e, dir); !reflect.DeepEqual(paths, fn.out) {
						t.Errorf("result made of %q, want %q", paths, fn.out)
					}
				}
			})
		}
	}
}

// outputPaths lists the container directories a result directory is made of.
func outputPaths(t *testing.T, e *fakeengine.Engine, dir *dagger.Directory) []string {
	t.Helper()
	id, err := dir.ID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	chain, ok := e.Object(string(id))
	if !ok {
		t.Fatalf("result ID %q unknown to the fake", id)
	}
	var paths []string
	var walk func(fakeengine.Chain)
	walk = func(c fakeengine.Chain) {
		for i, call := range c {
			switch call.Field {
			case "directory":
				if i > 0 { // Query.directory() is an empty directory, not an output
					paths = append(paths, call.Args["path"].(string))
				}
			case "withDirectory":
				sub, ok := e.Object(call.Args["source"].(string))
				if !ok {
					t.Fatalf("withDirectory source %v unknown", call.Args["source"])
				}
				walk(sub)
			}
		}
	}
	walk(chain)
	return paths
}

// TestExecErrorSurfaces: a command that exits non-zero is reported by the
// function that ran it, as a *dagger.ExecError with exit code and stderr, and
// with the command and the end of its stderr in the message.
func TestExecErrorSurfaces(t *testing.T) {
	stderr := strings.Repeat("noise\n", 50) + "datalab: ingest matches: 3.2% bad rows > --max-bad-ratio 0.01\n"
	for _, fn := range functions {
		t.Run(fn.name, func(t *testing.T) {
			e, _, lab := session(t, false)
			failing := fn.execs[len(fn.execs)-1]
			e.FailExec = func(args []string) *fakeengine.ExecFailure {
				if reflect.DeepEqual(args, failing) {
					return &fakeengine.ExecFailure{ExitCode: 2, Stdout: "some output", Stderr: stderr}
				}
				return nil
			}
			_, err := fn.call(context.Background(), lab)
			if err == nil {
				t.Fatal("no error from a failing command")
			}
			var ee *dagger.ExecError
			if !errors.As(err, &ee) {
				t.Fatalf("error %T %q is not a *dagger.ExecError", err, err)
			}
			if ee.ExitCode != 2 || ee.Stderr != stderr || !reflect.DeepEqual(ee.Cmd, failing) {
				t.Errorf("ExecError exit %d cmd %q stderr %q", ee.ExitCode, ee.Cmd, ee.Stderr)
			}
			msg := err.Error()
			for _, want := range []string{fn.name + ": ", "`" + strings.Join(failing, " ") + "`", "exited with code 2", "3.2% bad rows"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if n := strings.Count(msg, "noise"); n > 30 {
				t.Errorf("message repeats %d stderr lines, want the last %d at most", n, 30)
			}
		})
	}
}

// TestNonExecErrorIsWrapped: an engine error that is not a command's exit
// (an image that cannot be pulled) comes back wrapped with the function's
// name, and is not mistaken for an ExecError.
func TestNonExecErrorIsWrapped(t *testing.T) {
	e, _, lab := session(t, false)
	e.Refuse = func(fakeengine.Chain, fakeengine.Call) string {
		return "failed to resolve source metadata for " + flow.GoImage + ": pull access denied"
	}
	_, err := lab.Ingest(context.Background())
	var ee *dagger.ExecError
	if err == nil || errors.As(err, &ee) {
		t.Fatalf("error %v (%T), want a plain engine error", err, err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "ingest: ") || !strings.Contains(msg, "pull access denied") {
		t.Errorf("message %q", msg)
	}
}

// TestSessionTokenIsChecked: the fake refuses a client without the session
// token, so the tests above really ran through the token the SDK read from
// DAGGER_SESSION_TOKEN.
func TestSessionTokenIsChecked(t *testing.T) {
	e := fakeengine.Start(t)
	t.Setenv("DAGGER_SESSION_TOKEN", "not-the-token")
	c, err := dagger.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Container().From(flow.GoImage).Sync(context.Background()); err == nil {
		t.Fatal("query with a wrong token succeeded")
	}
	if e.AuthFailures() == 0 {
		t.Fatal("fake engine saw no bad token")
	}
}
