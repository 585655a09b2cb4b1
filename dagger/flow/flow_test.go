package flow_test

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"regexp"
	"slices"
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
	buildCLI  = []string{"go", "build", "-o", "/usr/local/bin/datalab", "./cmd/datalab"}
	staticCLI = []string{"go", "build", "-trimpath", "-o", "/out/datalab", "./cmd/datalab"}
	setup     = []string{"bash", ".ci/setup", "notebooks"}
	ingest    = []string{"datalab", "run", "ingest-matches", "ingest-martj42", "ingest-bts2008", "ingest-bts2017", "ingest-flights3m"}
	syncPull  = []string{"datalab", "report", "sync", "--remote", "/history", "--pull-only"}
	syncPush  = []string{"datalab", "report", "sync", "--remote", "/history"}
)

// function is one flow function as the module calls it.
type function struct {
	name  string
	call  func(context.Context, *flow.Lab) (any, error)
	execs [][]string // in the order the Go container runs them
	// opts are the withExec options of execs, by index; every other command
	// (in any container) has none.
	opts map[int]map[string]any
	out  []string // container directories the result is made of
	// history: an empty directory is mounted at /history (the pipeline's
	// site history when the caller gives neither a remote nor one).
	history bool
	// then, if set, is the container the function's last command runs in
	// after the Go container's: another image, no caches or mounts.
	then *container
}

// container is a function's container that is not the Go container.
type container struct {
	from  string
	files map[string]placed // withFile
	dirs  map[string]placed // withDirectory
	execs [][]string
}

// placed is what a withFile or withDirectory put at a path: the caller's
// --src (src), or path read out of a container from image that set env and
// ran execs.
type placed struct {
	src   bool
	path  string
	image string
	env   map[string]string // among the source container's variables
	execs [][]string
	owner string
	perm  int
}

func dirFn(f func(*flow.Lab, context.Context) (*dagger.Directory, error)) func(context.Context, *flow.Lab) (any, error) {
	return func(ctx context.Context, l *flow.Lab) (any, error) { return f(l, ctx) }
}

var functions = []function{
	{
		name:  "test",
		call:  func(ctx context.Context, l *flow.Lab) (any, error) { return l.Test(ctx) },
		execs: [][]string{{"make", "test"}},
		opts:  map[int]map[string]any{0: {"insecureRootCapabilities": true}}, // runc in ops/image's tests
	},
	{
		name:  "ingest",
		call:  dirFn((*flow.Lab).Ingest),
		execs: [][]string{buildCLI, ingest},
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
		name: "report",
		call: dirFn(func(l *flow.Lab, ctx context.Context) (*dagger.Directory, error) {
			return l.Report(ctx, flow.History{})
		}),
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
		name: "run",
		call: dirFn(func(l *flow.Lab, ctx context.Context) (*dagger.Directory, error) {
			return l.Run(ctx, flow.History{}, nil)
		}),
		execs:   [][]string{setup, buildCLI, syncPull, {"datalab", "run"}, syncPush},
		out:     []string{"/src/reports", "/src/build/models", "/src/runs", "/history"},
		history: true,
	},
	{
		name: "spark-train",
		call: dirFn(func(l *flow.Lab, ctx context.Context) (*dagger.Directory, error) {
			return l.SparkTrain(ctx, []string{"bts", "flights3m"})
		}),
		execs: [][]string{buildCLI, ingest}, // the ingest function's container
		then: &container{
			from: flow.SparkImage,
			files: map[string]placed{
				"/usr/local/bin/datalab": {path: "/out/datalab", image: flow.GoImage, env: map[string]string{"CGO_ENABLED": "0"},
					execs: [][]string{staticCLI}, perm: 0o755},
			},
			dirs: map[string]placed{
				"/src":       {src: true, owner: "spark"},
				"/src/build": {path: "/src/build", image: flow.GoImage, execs: [][]string{buildCLI, ingest}, owner: "spark"},
			},
			execs: [][]string{{"datalab", "train", "flights", "--engine", "spark", "--runner", "local",
				"--models", "build/models/flights-spark", "--spark-submit-arg=--driver-memory=6g",
				"--variant", "bts", "--variant", "flights3m"}},
		},
		out: []string{"/src/build/models/flights-spark"},
	},
}

// lastExec is the last command a function runs.
func (fn function) lastExec() []string {
	if fn.then != nil {
		return fn.then.execs[len(fn.then.execs)-1]
	}
	return fn.execs[len(fn.execs)-1]
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

// TestSparkImage: SparkImage is the apache/spark flavour with Python, by tag
// (no digest could be resolved; docs/dagger.md) or by tag and digest.
func TestSparkImage(t *testing.T) {
	const tag = "apache/spark:3.5.3-scala2.12-java11-python3-ubuntu"
	if flow.SparkImage != tag && !(strings.HasPrefix(flow.SparkImage, tag+"@") && digestRef.MatchString(flow.SparkImage)) {
		t.Fatalf("SparkImage %q, want %s or %s@sha256:<64 hex>", flow.SparkImage, tag, tag)
	}
}

// TestWithGoImage: a mirror's copy of the Go image replaces GoImage in every
// container the functions run, and an empty one keeps GoImage.
func TestWithGoImage(t *testing.T) {
	const mirror = "127.0.0.1:5000/library/golang:1.26.8-bookworm@sha256:1adbc075c725af5d6379a079bd091aa3e69c0b9a2478d122c440cd4711bcf54a"
	for _, ref := range []string{mirror, ""} {
		e := fakeengine.Start(t)
		c := e.Connect(t)
		lab := flow.New(c, c.LoadDirectoryFromID(srcID), flow.WithGoImage(ref))
		if _, err := lab.Ingest(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := ref
		if want == "" {
			want = flow.GoImage
		}
		if got := e.Describe(ranContainer(t, e)).From; !reflect.DeepEqual(got, []string{want}) {
			t.Errorf("WithGoImage(%q): from = %q, want %q", ref, got, want)
		}
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
				if fn.history {
					if h := got.Mounts["/history"]; len(h) != 1 || h[0].Field != "directory" || len(h[0].Args) > 0 {
						t.Errorf("/history mount %v, want an empty directory", h)
					}
					wantMounts["/history"] = got.Mounts["/history"]
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
				checkExecOpts(t, "", got, fn.opts)
				if len(got.SecretEnv) > 0 || len(got.Secrets) > 0 || len(got.Auth) > 0 {
					t.Errorf("secrets in a function that takes none: %v %v %v", got.SecretEnv, got.Secrets, got.Auth)
				}
				images := []string{flow.GoImage}
				if fn.then != nil {
					checkThen(t, e, *fn.then)
					images = append(images, fn.then.from)
				}
				for _, ev := range e.Evals() {
					for _, from := range e.Describe(ev.Chain).From {
						if !slices.Contains(images, from) {
							t.Errorf("a container from %q, want only %q", from, images)
						}
					}
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

// checkExecOpts: the commands of got have the withExec options want lists
// by index, and no others.
func checkExecOpts(t *testing.T, where string, got fakeengine.Container, want map[int]map[string]any) {
	t.Helper()
	for i, opts := range got.ExecOpts {
		if len(opts) == 0 && len(want[i]) == 0 {
			continue
		}
		if !reflect.DeepEqual(opts, want[i]) {
			t.Errorf("%s%q runs with options %v, want %v", where, got.Execs[i], opts, want[i])
		}
	}
}

// checkThen checks the container a function runs its last command in after
// the Go container: the first evaluated one from want.from that ran
// commands.
func checkThen(t *testing.T, e *fakeengine.Engine, want container) {
	t.Helper()
	var got *fakeengine.Container
	for _, ev := range e.Evals() {
		if d := e.Describe(ev.Chain); len(d.Execs) > 0 && reflect.DeepEqual(d.From, []string{want.from}) {
			got = &d
			break
		}
	}
	if got == nil {
		t.Fatalf("no container from %s ran a command", want.from)
	}
	where := want.from + ": "
	if !reflect.DeepEqual(got.Execs, want.execs) {
		t.Errorf("%sexecs =\n  %q\nwant\n  %q", where, got.Execs, want.execs)
	}
	checkExecOpts(t, where, *got, nil)
	if got.Workdir != "/src" {
		t.Errorf("%sworkdir = %q, want /src", where, got.Workdir)
	}
	if len(got.Caches) > 0 || len(got.Mounts) > 0 || len(got.Env) > 0 {
		t.Errorf("%scaches %v, mounts %v, env %v: want none", where, got.Caches, got.Mounts, got.Env)
	}
	if len(got.SecretEnv) > 0 || len(got.Secrets) > 0 || len(got.Auth) > 0 {
		t.Errorf("%ssecrets: %v %v %v", where, got.SecretEnv, got.Secrets, got.Auth)
	}
	for kind, m := range map[string]struct {
		got  map[string]fakeengine.Placed
		want map[string]placed
	}{
		"withFile": {got.Files, want.files}, "withDirectory": {got.Dirs, want.dirs},
	} {
		if len(m.got) != len(m.want) {
			t.Errorf("%s%s at %v, want at %v", where, kind, slices.Sorted(maps.Keys(m.got)), slices.Sorted(maps.Keys(m.want)))
		}
		for p, w := range m.want {
			g, ok := m.got[p]
			if !ok {
				t.Errorf("%sno %s at %s", where, kind, p)
				continue
			}
			checkPlaced(t, e, where+kind+" "+p+": ", g, w)
		}
	}
}

// checkPlaced checks what a withFile or withDirectory put at a path.
func checkPlaced(t *testing.T, e *fakeengine.Engine, where string, got fakeengine.Placed, want placed) {
	t.Helper()
	if got.Owner != want.owner || got.Permissions != want.perm {
		t.Errorf("%sowner %q, permissions %#o; want %q, %#o", where, got.Owner, got.Permissions, want.owner, want.perm)
	}
	if want.src {
		if !reflect.DeepEqual(got.Source, loads(srcID)) {
			t.Errorf("%ssource %v, want the caller's --src", where, got.Source)
		}
		return
	}
	n := len(got.Source)
	if n < 2 {
		t.Fatalf("%ssource %v, want something read out of a container", where, got.Source)
	}
	if last := got.Source[n-1]; (last.Field != "file" && last.Field != "directory") || last.Args["path"] != want.path {
		t.Errorf("%sread by %s(%v), want %s", where, last.Field, last.Args["path"], want.path)
	}
	d := e.Describe(got.Source[:n-1])
	if !reflect.DeepEqual(d.From, []string{want.image}) {
		t.Errorf("%sfrom a container of %q, want %s", where, d.From, want.image)
	}
	for k, v := range want.env {
		if d.Env[k] != v {
			t.Errorf("%sits container has %s=%q, want %q", where, k, d.Env[k], v)
		}
	}
	if !reflect.DeepEqual(d.Execs, want.execs) {
		t.Errorf("%sits container ran\n  %q\nwant\n  %q", where, d.Execs, want.execs)
	}
	checkExecOpts(t, where, d, nil)
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
		// The calls after the last directory() are on the result: a
		// container's directory(path) is an output; Query.directory() (the
		// root) is an empty directory that withDirectory fills. Calls
		// before it built the container (whose withDirectory are inputs).
		start := 0
		for i, call := range c {
			if call.Field == "directory" {
				start = i
			}
		}
		if start > 0 {
			paths = append(paths, c[start].Args["path"].(string))
		}
		for _, call := range c[start+1:] {
			if call.Field == "withDirectory" {
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
			failing := fn.lastExec()
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
