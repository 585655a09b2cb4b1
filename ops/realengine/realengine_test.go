package realengine

import (
	"archive/tar"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/mod/modfile"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// daggerGoMod is the part of dagger v0.21.8's go.mod that PatchGoMod
// rewrites: its local replaces and the pins the proxy refuses.
const daggerGoMod = `module github.com/dagger/dagger

go 1.26.1

require (
	dagger.io/dagger v0.21.6
	github.com/dagger/dagger/engine/distconsts v0.21.6
	github.com/vito/dang/v2 v2.1.1
	github.com/vito/midterm v0.2.5-0.20260312180916-3c2add750bea
	github.com/vito/tuist v0.0.6
	github.com/vito/tuist/teav1 v0.0.0-20260330150345-de388bf31342
)

replace (
	dagger.io/dagger => ./sdk/go
	github.com/dagger/dagger/engine/distconsts => ./engine/distconsts
)

replace go.etcd.io/bbolt => go.etcd.io/bbolt v1.4.0-beta.0.0.20260422092123-cd4bafc17e45
`

func TestPatchGoMod(t *testing.T) {
	out, err := PatchGoMod([]byte(daggerGoMod))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", out, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := map[string]string{}
	for _, r := range f.Require {
		req[r.Mod.Path] = r.Mod.Version
	}
	if req[SDKModule] != SDKVersion {
		t.Errorf("require %s %s, want %s", SDKModule, req[SDKModule], SDKVersion)
	}
	rep := map[string]string{}
	for _, r := range f.Replace {
		rep[r.Old.Path] = r.New.Path + "@" + r.New.Version
	}
	if _, ok := rep[SDKModule]; ok {
		t.Errorf("%s still replaced by a directory the module zip lacks: %v", SDKModule, rep)
	}
	if rep[DistconstsModule] != "./engine/distconsts@" {
		t.Errorf("distconsts replace %q, want ./engine/distconsts", rep[DistconstsModule])
	}
	if rep["go.etcd.io/bbolt"] == "" {
		t.Error("dagger's own version replaces were dropped")
	}
	for _, s := range Substitutes {
		if rep[s.Path] != s.Path+"@"+s.Served {
			t.Errorf("%s replaced by %q, want the served %s", s.Path, rep[s.Path], s.Served)
		}
	}
	// A go.mod without the local replaces is another dagger layout: refused.
	if _, err := PatchGoMod([]byte("module github.com/dagger/dagger\n\ngo 1.26.1\n")); err == nil || !strings.Contains(err.Error(), "new dagger version") {
		t.Errorf("a go.mod without the expected replaces: %v", err)
	}
}

// TestDistconsts: the written package parses and declares every name the
// engine's packages use, with its paths inside the layout's home.
func TestDistconsts(t *testing.T) {
	l := Layout{Home: "/var/tmp/dl-home"}
	f, err := parser.ParseFile(token.NewFileSet(), "consts.go", l.Distconsts(), 0)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					vals[n.Name] = strings.Trim(lit.Value, `"`)
				} else {
					vals[n.Name] = "(expr)"
				}
			}
		}
	}
	// The names dagger v0.21.8's engine, CLI and codegen refer to.
	for _, n := range []string{"AlpineVersion", "RuncPath", "EngineDefaultStateDir", "EngineCustomCACertsDir", "AlpineImage",
		"TypescriptSDKManifestDigestEnvName", "PythonSDKManifestDigestEnvName", "OCIVersionAnnotation", "GolangImage",
		"GoSDKManifestDigestEnvName", "EngineContainerName", "EngineContainerBuiltinContentDir", "DefaultEngineSockAddr",
		"DaggerInitPath", "BusyboxImage"} {
		if _, ok := vals[n]; !ok {
			t.Errorf("distconsts lacks %s", n)
		}
	}
	for n, want := range map[string]string{
		"EngineDefaultStateDir": l.State(), "EngineContainerBuiltinContentDir": l.Content(),
		"DaggerInitPath": filepath.Join(l.Bin(), "dagger-init"), "DefaultEngineSockAddr": l.RunnerHost(), "RuncPath": Runc,
		"GoSDKManifestDigestEnvName": "DAGGER_GO_SDK_MANIFEST_DIGEST",
	} {
		if vals[n] != want {
			t.Errorf("%s = %q, want %q", n, vals[n], want)
		}
	}
}

func TestApplyPatch(t *testing.T) {
	dir := t.TempDir()
	p := Patch{File: "a.go", Old: "x = 1", New: "x = 2"}
	for _, tc := range []struct{ body, want, err string }{
		{"x = 1\n", "x = 2\n", ""},
		{"y = 1\n", "", "occurs 0 times"},
		{"x = 1\nx = 1\n", "", "occurs 2 times"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		err := applyPatch(dir, p)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		got, _ := os.ReadFile(filepath.Join(dir, "a.go"))
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: %q, %v", tc.body, got, err)
		}
	}
	// The real patch's text is the engine's exact line (checked against the
	// source on every build, PrepareSource); here: it names the SDK tag.
	if !strings.Contains(Patches[0].New, `"`+SDKVersion+`"`) {
		t.Errorf("patch %s does not pin %s", Patches[0].File, SDKVersion)
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	testtree.Write(t, dir, files)
	return dir
}

// TestLayerFrom: the same tree gives the same digest, files land under To
// with their content, skipped paths are left out, entries come last.
func TestLayerFrom(t *testing.T) {
	tree := writeTree(t, map[string]string{"bin/go": "gobinary", "pkg/obj/x": "skip me", "src/a.go": "package a"})
	if err := os.Symlink("go", filepath.Join(tree, "bin", "golang")); err != nil {
		t.Fatal(err)
	}
	build := func() (string, map[string]string) {
		t.Helper()
		l, err := LayerFrom(t.TempDir(), []Tree{{From: tree, To: "usr/local/go", Skip: []string{"pkg/obj"}}},
			[]Entry{{Path: "tmp", Mode: 0o1777, Dir: true}, {Path: "etc/passwd", Mode: 0o644, Body: []byte("root")}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		got := map[string]string{}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			switch h.Typeflag {
			case tar.TypeDir:
				got[h.Name] = "dir " + fs.FileMode(h.Mode).String()
			case tar.TypeSymlink:
				got[h.Name] = "-> " + h.Linkname
			default:
				got[h.Name] = string(b)
			}
			if !h.ModTime.Equal(Epoch) || h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%s: time %v owner %d:%d", h.Name, h.ModTime, h.Uid, h.Gid)
			}
		}
		return d.String(), got
	}
	d1, files := build()
	d2, _ := build()
	if d1 != d2 {
		t.Errorf("two builds of one tree: %s and %s", d1, d2)
	}
	for name, want := range map[string]string{
		"usr/local/go/bin/go": "gobinary", "usr/local/go/src/a.go": "package a", "usr/local/go/bin/golang": "-> go",
		"etc/passwd": "root", "tmp/": "dir " + fs.FileMode(0o1777).String(),
	} {
		if files[name] != want {
			t.Errorf("%s = %q, want %q", name, files[name], want)
		}
	}
	if _, ok := files["usr/local/go/pkg/obj/x"]; ok {
		t.Error("a skipped path is in the layer")
	}
	if _, ok := files["usr/"]; !ok {
		t.Error("parent directories are missing")
	}
}

// TestRegistryPush: an image written to an OCI layout and pushed to the
// loopback registry comes back with the same digest, by tag.
func TestRegistryPush(t *testing.T) {
	layer, err := LayerFrom(t.TempDir(), nil, []Entry{{Path: "hello", Mode: 0o644, Body: []byte("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := Image([]v1.Layer{layer}, []string{"PATH=/bin"}, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	want, err := WriteLayout(dir, img, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := StartRegistry("127.0.0.1:0", filepath.Join(t.TempDir(), "blobs"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	got, err := reg.Push(context.Background(), dir, "library/hello:1")
	if err != nil || got != want {
		t.Fatalf("push: %v, %v (want %v)", got, err, want)
	}
	ref, _ := name.NewTag(reg.Addr+"/library/hello:1", name.Insecure)
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := pulled.Digest(); d != want {
		t.Errorf("pulled %v, pushed %v", d, want)
	}
	cf, _ := pulled.ConfigFile()
	if cf.Architecture != "amd64" || cf.OS != "linux" || cf.Config.Env[0] != "PATH=/bin" {
		t.Errorf("config %+v", cf.Config)
	}
}

func TestBuildkitConfig(t *testing.T) {
	got := string(BuildkitConfig("127.0.0.1:5123"))
	for _, want := range []string{`[registry."docker.io"]`, `mirrors = ["127.0.0.1:5123"]`, `[registry."127.0.0.1:5123"]`, "http = true"} {
		if !strings.Contains(got, want) {
			t.Errorf("buildkitd.toml lacks %q:\n%s", want, got)
		}
	}
}

// TestModuleSeed: the seed of the repository's Dagger module holds each
// module's info, mod and zip, and a version list the file:// proxy serves
// (the list the machine's proxy refuses for github.com/dagger/querybuilder).
func TestModuleSeed(t *testing.T) {
	trees, err := ModuleSeed(context.Background(), filepath.Join("..", "..", "dagger"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, tr := range trees {
		have[tr.To] = tr.From
	}
	qb := SeedDir + "/github.com/dagger/querybuilder/@v/"
	for _, suffix := range []string{"list", ".mod", ".zip", ".info"} {
		found := false
		for to := range have {
			if strings.HasPrefix(to, qb) && strings.HasSuffix(to, suffix) {
				found = true
			}
		}
		if !found {
			t.Errorf("the seed has no %s*%s", qb, suffix)
		}
	}
	list, err := os.ReadFile(have[qb+"list"])
	if err != nil || !strings.HasPrefix(string(list), "v0.0.0-") {
		t.Errorf("querybuilder's list %q (%v), want its pinned version", list, err)
	}
	if !strings.HasPrefix(SeedProxy("https://proxy.golang.org,direct"), "file://"+SeedDir+",https://proxy.golang.org") {
		t.Errorf("SeedProxy = %s", SeedProxy("https://proxy.golang.org,direct"))
	}
}

// TestCheckRun: a result whose models are the lock's passes; a changed
// byte, a missing model or a missing site index fails, naming it.
func TestCheckRun(t *testing.T) {
	site := writeTree(t, map[string]string{
		"reports/index.html":        "<html>",
		"runs/r1/run.json":          "{}",
		"models/matches/model.json": "forest",
	})
	d, err := stagerun.HashPath(site, "models/matches")
	if err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(t.TempDir(), "datalab.lock")
	write := func(sha string) {
		t.Helper()
		body := "schema: 1\nstages:\n  train-matches:\n    key: k\n    cmd: datalab train matches\n    outs:\n      - path: build/models/matches\n        sha256: " +
			sha + "\n        size: " + fmt.Sprint(d.Size) + "\n  ingest:\n    key: k\n    cmd: x\n    outs:\n      - path: build/parquet/m.parquet\n        sha256: aa\n        size: 1\n"
		if err := os.WriteFile(lock, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(d.SHA256)
	rc, err := CheckRun(site, lock)
	if err != nil || len(rc.Matched) != 1 || rc.RunRecords != 1 {
		t.Fatalf("CheckRun = %+v, %v", rc, err)
	}
	write(strings.Repeat("0", 64))
	if _, err := CheckRun(site, lock); err == nil || !strings.Contains(err.Error(), "models/matches (train-matches)") {
		t.Errorf("a model unlike the lock's: %v", err)
	}
	write(d.SHA256)
	os.RemoveAll(filepath.Join(site, "models"))
	if _, err := CheckRun(site, lock); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("no model: %v", err)
	}
	os.Remove(filepath.Join(site, "reports", "index.html"))
	if _, err := CheckRun(site, lock); err == nil || !strings.Contains(err.Error(), "index") {
		t.Errorf("no index: %v", err)
	}
}

// TestBuilt: a build counts only with every binary and the stamp of what
// it was built from; another home (other compiled-in paths) or a changed
// patch list needs a rebuild.
func TestBuilt(t *testing.T) {
	l := Layout{Home: t.TempDir()}
	if err := os.MkdirAll(l.Bin(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range Binaries {
		os.WriteFile(filepath.Join(l.Bin(), b.Name), []byte("bin"), 0o755)
	}
	if l.Built() {
		t.Error("built without a stamp")
	}
	os.WriteFile(l.stampFile(), []byte(l.BuildStamp()+"\n"), 0o644)
	if !l.Built() {
		t.Error("not built with every binary and the stamp")
	}
	if other := (Layout{Home: t.TempDir()}); other.BuildStamp() == l.BuildStamp() {
		t.Error("two homes share a stamp, but their binaries hold different paths")
	}
	saved := Patches
	Patches = append(slices.Clone(Patches), Patch{File: "x.go", Old: "a", New: "b"})
	changed := !l.Built()
	Patches = saved
	if !changed {
		t.Error("a new patch does not call for a rebuild")
	}
	os.Remove(filepath.Join(l.Bin(), "dagger-engine"))
	if l.Built() {
		t.Error("built without the engine")
	}
}
