// Package realengine builds the pinned Dagger CLI and engine from the Go
// module proxy and runs them on this machine, with no container registry
// and no Docker: the engine is a local process with BuildKit's runc worker,
// the images it needs are assembled here and served from a loopback
// registry (registry.go, images.go), and `dagger develop` / `dagger call`
// run against it for real (docs/dagger.md, dagger/realengine/run).
//
// What differs from a stock engine on GitHub, and why, is listed in
// Substitutes and Distconsts and in docs/dagger.md; nothing answers for the
// engine.
package realengine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"
)

// The pinned versions: the engine of dagger.json's engineVersion and the
// SDK of dagger/go.mod.
const (
	DaggerModule  = "github.com/dagger/dagger"
	DaggerVersion = "v0.21.8"
	SDKModule     = "dagger.io/dagger"
	SDKVersion    = "v0.21.8"
	// DistconstsModule is a nested module of the dagger repository that the
	// module proxy does not serve at any version; its source is written
	// here (Distconsts).
	DistconstsModule = "github.com/dagger/dagger/engine/distconsts"
)

// Substitute replaces a dependency version the module proxy does not serve
// with the nearest one it does.
type Substitute struct {
	Path, Pinned, Served string
	// Why says what imports it.
	Why string
}

// Substitutes are dagger v0.21.8's pinned dependencies that the module proxy
// refuses (403), each replaced by the version it serves. Only the CLI's
// terminal UI and the engine's "dang" SDK import them; the build is the
// test that their APIs still fit.
var Substitutes = []Substitute{
	{"github.com/vito/dang/v2", "v2.1.1", "v2.5.0", "core/sdk/dang (the Dang SDK, not used by Go modules)"},
	{"github.com/vito/midterm", "v0.2.5-0.20260312180916-3c2add750bea", "v0.2.5", "dagql/idtui (the CLI's terminal UI)"},
	{"github.com/vito/tuist", "v0.0.6", "v0.0.12", "dagql/idtui"},
	{"github.com/vito/tuist/teav1", "v0.0.0-20260330150345-de388bf31342", "v0.0.0-20260819192838-ad563377029f", "dagql/idtui"},
}

// Patch is one exact text replacement in dagger's source.
type Patch struct{ File, Old, New, Why string }

// Patches are the source changes to the engine. Each must match exactly
// once, or the build stops: a new dagger version needs a new look.
var Patches = []Patch{{
	File: "core/sdk/go_sdk.go",
	Old:  `goSDKLibVersion = "56bb30426a8462af6f95cfdae6461d0cc796ff50" // v0.21.8`,
	New:  `goSDKLibVersion = "` + SDKVersion + `" // datalab realengine: the tag the commit is, see ops/realengine.Patches`,
	Why: "`dagger develop` runs `go get dagger.io/dagger@<commit>` in the module; the module proxy resolves a commit " +
		"only through the repository (403 here, no VCS access), so the engine names the release tag that commit is",
}}

// Binaries are the commands built from the dagger module, by package and
// installed name.
var Binaries = []struct{ Pkg, Name string }{
	{"./cmd/dagger", "dagger"},
	{"./cmd/engine", "dagger-engine"},
	{"./cmd/init", "dagger-init"},
	{"./cmd/codegen", "codegen"},
	{"./cmd/dnsname", "dnsname"},
}

// Layout is where everything lives under one home directory: the built
// binaries, the engine's state, its builtin content (the Go SDK image), the
// images and the run-time files. The engine's compile-time paths point
// here (Distconsts), so a build belongs to its home.
type Layout struct{ Home string }

func (l Layout) Src() string     { return filepath.Join(l.Home, "src") }
func (l Layout) Bin() string     { return filepath.Join(l.Home, "bin") }
func (l Layout) State() string   { return filepath.Join(l.Home, "state") }
func (l Layout) Content() string { return filepath.Join(l.Home, "content") }
func (l Layout) Images() string  { return filepath.Join(l.Home, "images") }
func (l Layout) Run() string     { return filepath.Join(l.Home, "run") }
func (l Layout) CNIBin() string  { return filepath.Join(l.Home, "cni-bin") }
func (l Layout) Socket() string  { return filepath.Join(l.Run(), "engine.sock") }

// RunnerHost is the address the dagger CLI is given in
// _EXPERIMENTAL_DAGGER_RUNNER_HOST.
func (l Layout) RunnerHost() string { return "unix://" + l.Socket() }

var distconstsTmpl = template.Must(template.New("").Parse(`// Package distconsts is written by datalab's ops/realengine: the module
// proxy does not serve this nested module of dagger {{.Version}}. The names
// and types are the ones the engine's packages use; the paths point into
// {{.Home}} instead of the engine image's /usr/local and /var/lib, since
// this engine runs as a local process.
package distconsts

const (
	EngineContainerName   = "dagger-engine.datalab"
	DefaultEngineSockAddr = "unix://{{.Socket}}"
)

const (
	RuncPath       = "{{.Runc}}"
	DaggerInitPath = "{{.Bin}}/dagger-init"

	EngineDefaultStateDir  = "{{.State}}"
	EngineCustomCACertsDir = "{{.Home}}/ca-certificates"

	EngineContainerBuiltinContentDir   = "{{.Content}}"
	GoSDKManifestDigestEnvName         = "DAGGER_GO_SDK_MANIFEST_DIGEST"
	PythonSDKManifestDigestEnvName     = "DAGGER_PYTHON_SDK_MANIFEST_DIGEST"
	TypescriptSDKManifestDigestEnvName = "DAGGER_TYPESCRIPT_SDK_MANIFEST_DIGEST"
)

// Image references of the engine's own defaults (the terminal image); not
// pulled by anything datalab runs.
const (
	AlpineVersion = "3.20.2"
	AlpineImage   = "alpine:" + AlpineVersion

	GolangVersion = "1.26.8"
	GolangImage   = "golang:" + GolangVersion + "-alpine"

	BusyboxVersion = "1.37.0"
	BusyboxImage   = "busybox:" + BusyboxVersion
)

const OCIVersionAnnotation = "org.opencontainers.image.version"
`))

// Runc is the OCI runtime the engine's worker runs: Debian's.
const Runc = "/usr/sbin/runc"

// Distconsts returns the Go source of the distconsts package for this
// layout.
func (l Layout) Distconsts() []byte {
	var b bytes.Buffer
	if err := distconstsTmpl.Execute(&b, map[string]string{
		"Version": DaggerVersion, "Home": l.Home, "Socket": l.Socket(), "Runc": Runc,
		"Bin": l.Bin(), "State": l.State(), "Content": l.Content(),
	}); err != nil {
		panic(err) // the template is constant
	}
	return b.Bytes()
}

// PatchGoMod rewrites dagger's go.mod for a build outside its repository:
// the SDK by version instead of ./sdk/go (not in the module zip), and the
// Substitutes. The distconsts replace (./engine/distconsts) stays; the
// directory is written by PrepareSource.
func PatchGoMod(data []byte) ([]byte, error) {
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return nil, err
	}
	var sawSDK, sawDist bool
	for _, r := range f.Replace {
		switch r.Old.Path {
		case SDKModule:
			sawSDK = true
		case DistconstsModule:
			sawDist = r.New.Path == "./engine/distconsts"
		}
	}
	if !sawSDK || !sawDist {
		return nil, fmt.Errorf("dagger go.mod: expected replaces of %s and %s => ./engine/distconsts (a new dagger version? check ops/realengine)", SDKModule, DistconstsModule)
	}
	if err := f.DropReplace(SDKModule, ""); err != nil {
		return nil, err
	}
	if err := f.AddRequire(SDKModule, SDKVersion); err != nil {
		return nil, err
	}
	for _, s := range Substitutes {
		if err := f.AddReplace(s.Path, "", s.Path, s.Served); err != nil {
			return nil, err
		}
	}
	f.Cleanup()
	return f.Format()
}

// goEnv is the environment of every go command here: the machine's own
// toolchain, static binaries, and go.sum completed from the proxy (the
// patched go.mod names versions dagger's go.sum lacks).
func goEnv() []string {
	return append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
}

// PrepareSource downloads dagger's module zip through the module proxy and
// writes a buildable copy to l.Src(): go.mod patched, distconsts written.
func (l Layout) PrepareSource(ctx context.Context, log io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", DaggerModule+"@"+DaggerVersion)
	cmd.Env, cmd.Stderr = goEnv(), log
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go mod download %s@%s: %w", DaggerModule, DaggerVersion, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return fmt.Errorf("go mod download %s@%s: %s%v", DaggerModule, DaggerVersion, m.Error, err)
	}
	tmp := l.Src() + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := copyTree(m.Dir, tmp); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(tmp, "go.mod"))
	if err != nil {
		return err
	}
	if gomod, err = PatchGoMod(gomod); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), gomod, 0o644); err != nil {
		return err
	}
	for _, p := range Patches {
		if err := applyPatch(tmp, p); err != nil {
			return err
		}
	}
	dc := filepath.Join(tmp, "engine", "distconsts")
	if err := os.MkdirAll(dc, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dc, "go.mod"), []byte("module "+DistconstsModule+"\n\ngo 1.26.1\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dc, "consts.go"), l.Distconsts(), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(l.Src()); err != nil {
		return err
	}
	return os.Rename(tmp, l.Src())
}

// Build compiles Binaries from l.Src() into l.Bin(), with the engine
// version stamped as dagger's release build does.
func (l Layout) Build(ctx context.Context, log io.Writer) error {
	if err := os.MkdirAll(l.Bin(), 0o755); err != nil {
		return err
	}
	ld := "-s -w -X github.com/dagger/dagger/engine.Version=" + DaggerVersion + " -X github.com/dagger/dagger/engine.Tag=" + DaggerVersion
	for _, b := range Binaries {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ld, "-o", filepath.Join(l.Bin(), b.Name), b.Pkg)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = l.Src(), goEnv(), log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s (in %s): %w", b.Pkg, l.Src(), err)
		}
	}
	return os.WriteFile(l.stampFile(), []byte(l.BuildStamp()+"\n"), 0o644)
}

// BuildStamp identifies what a build is made of: the pinned versions, the
// substitutes, the patches, the distconsts source (which holds the home's
// paths) and the Go toolchain. A build whose stamp differs is rebuilt.
func (l Layout) BuildStamp() string {
	h := sha256.New()
	fmt.Fprintln(h, DaggerVersion, SDKVersion, runtime.Version())
	for _, s := range Substitutes {
		fmt.Fprintln(h, s.Path, s.Pinned, s.Served)
	}
	for _, p := range Patches {
		fmt.Fprintln(h, p.File, p.Old, p.New)
	}
	for _, b := range Binaries {
		fmt.Fprintln(h, b.Pkg, b.Name)
	}
	h.Write(l.Distconsts())
	return hex.EncodeToString(h.Sum(nil))
}

func (l Layout) stampFile() string { return filepath.Join(l.Bin(), ".stamp") }

// Built reports whether every binary is in place and was built from what
// BuildStamp describes now.
func (l Layout) Built() bool {
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(l.Bin(), b.Name)); err != nil {
			return false
		}
	}
	stamp, err := os.ReadFile(l.stampFile())
	return err == nil && strings.TrimSpace(string(stamp)) == l.BuildStamp()
}

func applyPatch(dir string, p Patch) error {
	f := filepath.Join(dir, p.File)
	data, err := os.ReadFile(f)
	if err != nil {
		return err
	}
	if n := bytes.Count(data, []byte(p.Old)); n != 1 {
		return fmt.Errorf("patch %s: the text to replace occurs %d times, not once (a new dagger version? check ops/realengine.Patches): %s", p.File, n, p.Old)
	}
	return os.WriteFile(f, bytes.Replace(data, []byte(p.Old), []byte(p.New), 1), 0o644)
}

// copyTree copies a read-only module cache directory into a writable one.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if info, err := d.Info(); err == nil && info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		return os.WriteFile(t, data, mode)
	})
}

// trimLines is strings.TrimSpace for command output.
func trimLines(b []byte) string { return strings.TrimSpace(string(b)) }

// SDKDigestFile holds the manifest digest of the Go SDK image in Content().
func (l Layout) SDKDigestFile() string { return filepath.Join(l.Images(), "gosdk.digest") }

// GolangLayout is the OCI layout of the golang image stand-in.
func (l Layout) GolangLayout() string { return filepath.Join(l.Images(), "golang") }

// GolangRepoTag is where the registry serves the golang stand-in: the
// docker.io path of golang:<version>-bookworm, so the engine's docker.io
// mirror finds it by tag.
func GolangRepoTag(goVersion string) string {
	return "library/golang:" + strings.TrimPrefix(goVersion, "go") + "-bookworm"
}

// RootfsStamp identifies a debootstrap root file system: suite, packages,
// archive.
func RootfsStamp() string {
	return "bookworm " + strings.Join(DebianPackages, ",") + " " + DebianMirror
}

// DebianMirror is Debian's archive, which this machine reaches.
const DebianMirror = "http://deb.debian.org/debian"

// DebianPackages are added to debootstrap's minimal base: what the golang
// image has on top of Debian (buildpack-deps:bookworm-scm's TLS roots,
// curl, git, procps, netbase; the golang Dockerfile's gcc, g++, libc6-dev,
// make, pkg-config: cgo and the race detector need a C compiler).
var DebianPackages = []string{"ca-certificates", "curl", "git", "procps", "netbase", "gcc", "g++", "libc6-dev", "make", "pkg-config"}
