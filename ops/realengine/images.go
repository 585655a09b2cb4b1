package realengine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is every file's modification time and every image's creation time,
// so that the same inputs give the same digests.
var Epoch = time.Unix(0, 0).UTC()

// Tree is one part of a layer: the host directory or file From, placed at
// To inside the image. Skip lists paths (relative to From) left out.
type Tree struct {
	From, To string
	Skip     []string
}

// Entry is one synthesized file, directory or symlink of a layer.
type Entry struct {
	Path     string
	Mode     int64
	Body     []byte
	Dir      bool
	Linkname string // a symlink when set
}

// LayerFrom writes a tar of trees and entries (entries last, in the given
// order; trees walked in lexical order) to a file in dir and returns it as
// a gzip layer. Owners are root, times Epoch.
func LayerFrom(dir string, trees []Tree, entries []Entry) (v1.Layer, error) {
	f, err := os.CreateTemp(dir, "layer-*.tar")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	seen := map[string]bool{}
	for _, t := range trees {
		if err := addTree(tw, t, seen); err != nil {
			return nil, err
		}
	}
	for _, e := range entries {
		if err := addEntry(tw, e, seen); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return tarball.LayerFromFile(f.Name(), tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching,
		tarball.WithMediaType(types.OCILayer))
}

func addParents(tw *tar.Writer, p string, seen map[string]bool) error {
	dir := path.Dir(p)
	if dir == "." || dir == "/" || seen[dir] {
		return nil
	}
	if err := addParents(tw, dir, seen); err != nil {
		return err
	}
	seen[dir] = true
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: Epoch, Format: tar.FormatPAX})
}

func addTree(tw *tar.Writer, t Tree, seen map[string]bool) error {
	return filepath.WalkDir(t.From, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(t.From, p)
		if slices.Contains(t.Skip, rel) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		name := strings.TrimPrefix(path.Join(t.To, filepath.ToSlash(rel)), "/")
		if name == "" || name == "." {
			return nil
		}
		if err := addParents(tw, name, seen); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := int64(fi.Mode().Perm())
		if fi.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		h := &tar.Header{Name: name, Mode: mode, ModTime: Epoch, Format: tar.FormatPAX}
		switch {
		case d.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
			seen[name] = true
			return tw.WriteHeader(h)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname = tar.TypeSymlink, target
			return tw.WriteHeader(h)
		case fi.Mode().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		default: // devices, sockets, fifos: not part of an image
			return nil
		}
	})
}

func addEntry(tw *tar.Writer, e Entry, seen map[string]bool) error {
	name := strings.TrimPrefix(e.Path, "/")
	if e.Dir && seen[name] {
		return nil
	}
	if err := addParents(tw, name, seen); err != nil {
		return err
	}
	h := &tar.Header{Name: name, Mode: e.Mode, ModTime: Epoch, Format: tar.FormatPAX}
	switch {
	case e.Dir:
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
		seen[name] = true
	case e.Linkname != "":
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Linkname
	default:
		h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Body))
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(e.Body)
	return err
}

// Image stacks layers on an empty base with the given environment and
// working directory, for linux/amd64.
func Image(layers []v1.Layer, env []string, workdir string, cmd []string) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", v1.Time{Time: Epoch}
	cf.Config.Env, cf.Config.WorkingDir, cf.Config.Cmd = env, workdir, cmd
	return mutate.ConfigFile(img, cf)
}

// Base files of a small image: root's passwd/group entries, /tmp, and the
// host's CA bundle (for HTTPS to the module proxy).
func baseEntries(caCerts []byte) []Entry {
	return []Entry{
		{Path: "etc/passwd", Mode: 0o644, Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")},
		{Path: "etc/group", Mode: 0o644, Body: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Path: "etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Body: caCerts},
		{Path: "tmp", Mode: 0o1777, Dir: true},
		{Path: "root", Mode: 0o700, Dir: true},
	}
}

// busyboxEntries installs a static busybox as /bin/busybox with a symlink
// per applet it lists.
func busyboxEntries(ctx context.Context, busybox string) ([]Entry, error) {
	body, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busybox, err)
	}
	es := []Entry{{Path: "bin/busybox", Mode: 0o755, Body: body}}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			es = append(es, Entry{Path: "bin/" + a, Mode: 0o777, Linkname: "busybox"})
		}
	}
	return es, nil
}

// GoEnv is the environment of both Go images: the Go toolchain of this
// machine at /usr/local/go, GOPATH /go, as the golang images set them.
func GoEnv(goVersion string) []string {
	return []string{
		"PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"GOLANG_VERSION=" + strings.TrimPrefix(goVersion, "go"), "GOPATH=/go", "GOTOOLCHAIN=local",
	}
}

// SDKInputs are the host files the Go SDK image is made of.
type SDKInputs struct {
	GoRoot, GoVersion, Codegen, Busybox, CACerts string
	// Seed is the module download cache the image carries (ModuleSeed).
	Seed []Tree
}

// SeedProxy is the GOPROXY the engine hands to the Go SDK container: the
// download cache seeded in the image first, then the machine's proxy.
// `dagger develop` and the module's build run `go get
// github.com/dagger/querybuilder` with no version, which asks the proxy for
// the module's version list; the proxy here refuses that list (403) while
// serving the pinned version, and a file:// proxy answers it from the
// seed. The stock Go SDK image carries a seeded /go/pkg/mod.
func SeedProxy(hostProxy string) string {
	if hostProxy == "" {
		hostProxy = "https://proxy.golang.org,direct"
	}
	return "file://" + SeedDir + "," + hostProxy
}

// SeedDir is the module download cache inside the Go SDK image: a
// file:// proxy. Not under /go/pkg/mod, where the engine mounts a cache
// volume that the image's content initialises only once.
const SeedDir = "/usr/local/share/datalab/goproxy"

// ModuleSeed lists the download-cache files (info, mod, zip, ziphash) of
// every module in the build list of the Go module at dir, downloading
// them through the machine's proxy first, and a version list per module.
func ModuleSeed(ctx context.Context, dir, tmp string) ([]Tree, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download in %s: %w", dir, err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	versions := map[string][]string{} // cache dir of a module -> versions
	var trees []Tree
	for dec.More() {
		var m struct{ Path, Version, Info, GoMod, Zip, Error string }
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		if m.Error != "" {
			return nil, fmt.Errorf("go mod download %s@%s: %s", m.Path, m.Version, m.Error)
		}
		for _, f := range []string{m.Info, m.GoMod, m.Zip, strings.TrimSuffix(m.Zip, ".zip") + ".ziphash"} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				continue
			}
			rel, err := filepath.Rel(downloadRoot(f), f)
			if err != nil {
				return nil, err
			}
			trees = append(trees, Tree{From: f, To: path.Join(SeedDir, filepath.ToSlash(rel))})
			if strings.HasSuffix(f, ".mod") {
				d := path.Join(SeedDir, filepath.ToSlash(filepath.Dir(rel)))
				versions[d] = append(versions[d], m.Version)
			}
		}
	}
	for d, vs := range versions {
		slices.Sort(vs)
		f, err := os.CreateTemp(tmp, "list-*")
		if err != nil {
			return nil, err
		}
		_, err = f.WriteString(strings.Join(slices.Compact(vs), "\n") + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		trees = append(trees, Tree{From: f.Name(), To: path.Join(d, "list")})
	}
	slices.SortFunc(trees, func(a, b Tree) int { return strings.Compare(a.To, b.To) })
	return trees, nil
}

// downloadRoot is the cache/download directory a file of it lies in.
func downloadRoot(f string) string {
	i := strings.Index(f, string(filepath.Separator)+"cache"+string(filepath.Separator)+"download"+string(filepath.Separator))
	if i < 0 {
		return filepath.Dir(f)
	}
	return f[:i] + string(filepath.Separator) + filepath.Join("cache", "download")
}

// GoSDKImage is the engine's builtin Go SDK container: what `dagger
// develop` runs codegen in and what builds and runs a Go module's runtime.
// The stock one is golang:alpine with codegen, built by dagger's release;
// this one is busybox, the CA bundle, this machine's Go toolchain and
// codegen built from the pinned source. CGO is off: there is no C compiler.
func GoSDKImage(ctx context.Context, tmp string, in SDKInputs) (v1.Image, error) {
	ca, err := os.ReadFile(in.CACerts)
	if err != nil {
		return nil, err
	}
	codegen, err := os.ReadFile(in.Codegen)
	if err != nil {
		return nil, err
	}
	bb, err := busyboxEntries(ctx, in.Busybox)
	if err != nil {
		return nil, err
	}
	base, err := LayerFrom(tmp, nil, append(baseEntries(ca), bb...))
	if err != nil {
		return nil, err
	}
	goLayer, err := LayerFrom(tmp, []Tree{{From: in.GoRoot, To: "usr/local/go", Skip: []string{"pkg/obj", "test"}}}, nil)
	if err != nil {
		return nil, err
	}
	top, err := LayerFrom(tmp, in.Seed, []Entry{
		{Path: "usr/local/bin/codegen", Mode: 0o755, Body: codegen},
		{Path: "go/pkg/mod", Mode: 0o755, Dir: true},
		{Path: "go/bin", Mode: 0o755, Dir: true},
		{Path: "root/.cache/go-build", Mode: 0o755, Dir: true},
	})
	if err != nil {
		return nil, err
	}
	return Image([]v1.Layer{base, goLayer, top}, append(GoEnv(in.GoVersion), "CGO_ENABLED=0"), "/", nil)
}

// GoDebianImage stands in for golang:<version>-bookworm: a Debian bookworm
// root file system made by debootstrap from Debian's archive, and this
// machine's Go toolchain at /usr/local/go.
func GoDebianImage(tmp, rootfs, goRoot, goVersion string) (v1.Image, error) {
	debian, err := LayerFrom(tmp, []Tree{{From: rootfs, To: "/", Skip: []string{"var/cache/apt/archives", "proc", "sys", "dev"}}},
		[]Entry{{Path: "proc", Mode: 0o555, Dir: true}, {Path: "sys", Mode: 0o555, Dir: true}, {Path: "dev", Mode: 0o755, Dir: true}})
	if err != nil {
		return nil, err
	}
	goLayer, err := LayerFrom(tmp, []Tree{{From: goRoot, To: "usr/local/go", Skip: []string{"pkg/obj", "test"}}},
		[]Entry{{Path: "go/bin", Mode: 0o777, Dir: true}, {Path: "go/src", Mode: 0o777, Dir: true}})
	if err != nil {
		return nil, err
	}
	return Image([]v1.Layer{debian, goLayer}, GoEnv(goVersion), "/go", []string{"bash"})
}

// WriteLayout writes img into an OCI layout at dir (created if missing)
// and returns its manifest digest.
func WriteLayout(dir string, img v1.Image, annotations map[string]string) (v1.Hash, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return v1.Hash{}, err
		}
	}
	if err := p.AppendImage(img, layout.WithAnnotations(annotations)); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}
