package image_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/ops/image"
)

const testVersion = "test-1.0"

var testCreated = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var (
	buildOnce sync.Once
	builtBin  []byte
	buildErr  error
)

// realBinary is the static datalab binary built from this checkout, once per
// test process (a cold -trimpath build takes minutes on two cores; later
// builds reuse the build cache).
func realBinary(t testing.TB) []byte {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the images hold a linux binary")
	}
	buildOnce.Do(func() {
		builtBin, buildErr = image.BuildBinary(context.Background(), image.BuildOptions{Dir: testmirror.RepoRoot(), Version: testVersion})
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// hostShell is Debian's busybox-static when installed (nil otherwise: the
// pipeline image is then assembled without /bin/sh).
func hostShell(t testing.TB) []byte {
	b, err := image.HostShell("")
	if err != nil {
		t.Logf("assembling without a shell: %v", err)
		return nil
	}
	return b
}

func testInputs(t testing.TB) image.Inputs {
	certs, err := image.HostCACerts("")
	if err != nil {
		t.Fatal(err)
	}
	return image.Inputs{Binary: realBinary(t), CACerts: certs, Shell: hostShell(t),
		Version: testVersion, Commit: strings.Repeat("ab", 20), Created: testCreated}
}

var (
	setOnce   sync.Once
	sharedSet *image.Set
	setErr    error
)

// assembled is the image set of testInputs, assembled once per test process
// (compressing the binary takes seconds; a Set is immutable).
func assembled(t testing.TB) (*image.Set, image.Inputs) {
	t.Helper()
	in := testInputs(t)
	setOnce.Do(func() { sharedSet, setErr = image.Assemble(in) })
	if setErr != nil {
		t.Fatal(setErr)
	}
	return sharedSet, in
}

func digests(t testing.TB, in image.Inputs) image.Digests {
	t.Helper()
	set, err := image.Assemble(in)
	if err != nil {
		t.Fatal(err)
	}
	return digestsOf(t, set)
}

func digestsOf(t testing.TB, set *image.Set) image.Digests {
	t.Helper()
	d, err := set.Digests()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestBinaryReproducible: two builds of the checkout give the same bytes
// (-trimpath, -buildvcs=false), statically linked, with the version stamped.
func TestBinaryReproducible(t *testing.T) {
	first := realBinary(t)
	second, err := image.BuildBinary(context.Background(), image.BuildOptions{Dir: testmirror.RepoRoot(), Version: testVersion})
	if err != nil {
		t.Fatal(err)
	}
	if sha(first) != sha(second) {
		t.Fatalf("two builds differ: %s vs %s", sha(first), sha(second))
	}
	t.Logf("static datalab: %d bytes, sha256 %s", len(first), sha(first))
	if runtime.GOARCH != "amd64" {
		return
	}
	p := filepath.Join(t.TempDir(), "datalab")
	if err := os.WriteFile(p, first, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "datalab version "+testVersion {
		t.Fatalf("datalab --version: %q, %v", out, err)
	}
}

// TestAssembleReproducible: the same inputs give the same digests and the
// same output bytes; a changed binary or time changes the images (and a
// changed binary leaves the base layer alone).
func TestAssembleReproducible(t *testing.T) {
	set1, in := assembled(t)
	set2, err := image.Assemble(in)
	if err != nil {
		t.Fatal(err)
	}
	a, b := digestsOf(t, set1), digestsOf(t, set2)
	if a.Index != b.Index || !maps.Equal(a.Images, b.Images) {
		t.Fatalf("same inputs, different digests:\n%v\n%v", a, b)
	}
	for _, n := range a.Names() {
		t.Logf("%-9s %s", n, a.Images[n])
	}
	t.Logf("index     %s", a.Index)

	changed := in
	changed.Binary = append(slices.Clip(in.Binary), 0)
	c := digests(t, changed)
	for _, n := range a.Names() {
		if c.Images[n] == a.Images[n] {
			t.Errorf("%s: a changed binary kept digest %s", n, a.Images[n])
		}
	}
	later := in
	later.Created = testCreated.Add(time.Second)
	if d := digests(t, later); d.Index == a.Index {
		t.Error("a changed creation time kept the index digest")
	}

	// Written twice: byte-identical trees, including the docker tarball.
	dir1, dir2 := filepath.Join(t.TempDir(), "images"), filepath.Join(t.TempDir(), "images")
	if err := set1.Write(dir1); err != nil {
		t.Fatal(err)
	}
	if err := set2.Write(dir2); err != nil {
		t.Fatal(err)
	}
	t1, t2 := treeHashes(t, dir1), treeHashes(t, dir2)
	if !maps.Equal(t1, t2) {
		t.Fatalf("two writes differ:\n%v\n%v", t1, t2)
	}
	t.Logf("%s sha256 %s", image.DockerTarball, t1[image.DockerTarball])
	if idx, _ := os.ReadFile(filepath.Join(dir1, image.LayoutDir, "index.json")); sha(idx) != a.Index.Hex {
		t.Errorf("index.json sha256 %s, want the index digest %s", sha(idx), a.Index.Hex)
	}
	// A second Write replaces the first and leaves no temporary directory.
	if err := set2.Write(dir1); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dir1)); len(ents) != 1 {
		t.Errorf("left beside the output: %v", ents)
	}
}

// treeHashes maps every file under root to its sha256, short enough to print.
func treeHashes(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for rel, content := range testtree.Read(t, root) {
		m[rel] = sha([]byte(content))
	}
	return m
}

type layerFile struct {
	mode     int64
	uid, gid int
	size     int64
	link     string
}

// eachTarEntry calls fn with every entry of the tar stream r.
func eachTarEntry(t *testing.T, r io.Reader, fn func(h *tar.Header, body io.Reader)) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(h, tr)
	}
}

func layerFiles(t *testing.T, l v1.Layer) map[string]layerFile {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]layerFile{}
	var names []string
	eachTarEntry(t, rc, func(h *tar.Header, _ io.Reader) {
		if !h.ModTime.Equal(testCreated) || h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() {
			t.Errorf("%s: mtime %v, uname %q, gname %q, atime %v", h.Name, h.ModTime, h.Uname, h.Gname, h.AccessTime)
		}
		names = append(names, h.Name)
		files[strings.TrimSuffix(h.Name, "/")] = layerFile{h.Mode, h.Uid, h.Gid, h.Size, h.Linkname}
	})
	if !slices.IsSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}
	return files
}

// TestImageContents: user, directories, certificates, binary, shell and the
// configuration of each image; the images share their layers.
func TestImageContents(t *testing.T) {
	set, in := assembled(t)
	var common []v1.Hash
	for _, im := range set.Images {
		name := im.Flavour.Name
		ls, err := im.Image.Layers()
		if err != nil {
			t.Fatal(err)
		}
		var ds []v1.Hash
		for _, l := range ls {
			d, _ := l.Digest()
			ds = append(ds, d)
		}
		if common == nil {
			common = ds[:2]
		}
		if !slices.Equal(ds[:2], common) {
			t.Errorf("%s: layers %v, want the shared %v first", name, ds, common)
		}
		wantLayers := 2
		if im.Flavour.Shell && in.Shell != nil {
			wantLayers = 3
		}
		if len(ds) != wantLayers {
			t.Errorf("%s: %d layers, want %d", name, len(ds), wantLayers)
		}

		cf, err := im.Image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if c.User != "65532:65532" || c.WorkingDir != "/data" || cf.OS != "linux" || !cf.Created.Equal(testCreated) {
			t.Errorf("%s: user %q, workdir %q, os %q, created %v", name, c.User, c.WorkingDir, cf.OS, cf.Created)
		}
		if !slices.Equal(c.Entrypoint, append([]string{image.BinaryPath}, im.Flavour.Args...)) {
			t.Errorf("%s: entrypoint %v", name, c.Entrypoint)
		}
		if !slices.Contains(c.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") {
			t.Errorf("%s: env %v", name, c.Env)
		}
		for k, want := range map[string]string{
			image.LabelRevision: in.Commit, image.LabelVersion: testVersion,
			image.LabelCreated: "2026-11-01T12:00:00Z", image.LabelSource: image.DefaultSource, image.LabelTitle: "datalab-" + name,
		} {
			if c.Labels[k] != want {
				t.Errorf("%s: label %s = %q, want %q", name, k, c.Labels[k], want)
			}
		}
		_, exposes := c.ExposedPorts["8080/tcp"]
		if exposes != (name == "serve") {
			t.Errorf("%s: exposed ports %v", name, c.ExposedPorts)
		}
		// serve listens on loopback unless told otherwise: the image must
		// say :8080, or the exposed port answers nothing.
		if exposes && !slices.Contains(c.Env, "DATALAB_ADDR=:8080") {
			t.Errorf("%s: exposes 8080 but does not set DATALAB_ADDR=:8080: env %v", name, c.Env)
		}
		if im.Tag.String() != "datalab/"+name+":"+testVersion {
			t.Errorf("%s: tag %s", name, im.Tag)
		}
		if name != "pipeline" {
			continue
		}
		files := map[string]layerFile{}
		for _, l := range ls {
			maps.Copy(files, layerFiles(t, l))
		}
		for p, want := range map[string]layerFile{
			"etc/passwd":                        {0o644, 0, 0, -1, ""},
			"etc/ssl/certs/ca-certificates.crt": {0o644, 0, 0, int64(len(in.CACerts)), ""},
			"home/datalab":                      {0o755, 65532, 65532, 0, ""},
			"data":                              {0o755, 65532, 65532, 0, ""},
			"tmp":                               {0o1777, 0, 0, 0, ""},
			"usr/local/bin/datalab":             {0o755, 0, 0, int64(len(in.Binary)), ""},
			"bin/sh":                            {0o777, 0, 0, 0, "busybox"},
		} {
			got, ok := files[p]
			if p == "bin/sh" && in.Shell == nil {
				continue
			}
			if want.size < 0 {
				want.size = got.size
			}
			if !ok || got != want {
				t.Errorf("%s: %+v (present %v), want %+v", p, got, ok, want)
			}
		}
	}
}

// TestEntrypointsUseRealFlags: every entrypoint is a real subcommand and every
// DATALAB_* variable an image sets is one that subcommand reads (its --help
// names it).
func TestEntrypointsUseRealFlags(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("runs the built binary on the host")
	}
	p := filepath.Join(t.TempDir(), "datalab")
	if err := os.WriteFile(p, realBinary(t), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range image.Flavours {
		out, err := exec.Command(p, append(slices.Clone(f.Args), "--help")...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: datalab %v --help: %v\n%s", f.Name, f.Args, err, out)
		}
		if !strings.Contains(string(out), "datalab "+strings.Join(f.Args, " ")) {
			t.Errorf("%s: datalab %v is not a subcommand:\n%s", f.Name, f.Args, out)
		}
		for _, e := range f.Env {
			k, _, _ := strings.Cut(e, "=")
			if !strings.Contains(string(out), "env "+k) {
				t.Errorf("%s: sets %s, which datalab %v --help does not name", f.Name, k, f.Args)
			}
		}
	}
}

// TestOutputsReadable: the layout names each image by ref.name, and the
// docker tarball's manifest.json tags each image and lists blobs it holds.
func TestOutputsReadable(t *testing.T) {
	set, _ := assembled(t)
	want := digestsOf(t, set)
	dir := t.TempDir()
	if err := set.Write(dir); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, image.LayoutDir))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]v1.Hash{}
	for _, d := range im.Manifests {
		got[d.Annotations[image.AnnotationRefName]] = d.Digest
	}
	if !maps.Equal(got, want.Images) {
		t.Errorf("layout refs %v, want %v", got, want.Images)
	}

	f, err := os.Open(filepath.Join(dir, image.DockerTarball))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blobs := map[string]bool{}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	eachTarEntry(t, f, func(h *tar.Header, body io.Reader) {
		switch {
		case h.Name == "manifest.json":
			if err := json.NewDecoder(body).Decode(&manifest); err != nil {
				t.Fatal(err)
			}
			return
		case strings.HasSuffix(h.Name, ".tar.gz"):
			if _, err := gzip.NewReader(body); err != nil {
				t.Errorf("%s: %v", h.Name, err)
			}
		}
		blobs[h.Name] = true
	})
	var tags []string
	for _, m := range manifest {
		tags = append(tags, m.RepoTags...)
		for _, b := range append([]string{m.Config}, m.Layers...) {
			if !blobs[b] {
				t.Errorf("manifest.json names %s, not in the tarball", b)
			}
		}
	}
	slices.Sort(tags)
	wantTags := []string{"datalab/pipeline:" + testVersion, "datalab/predictor:" + testVersion, "datalab/serve:" + testVersion}
	if !slices.Equal(tags, wantTags) {
		t.Errorf("tags %v, want %v", tags, wantTags)
	}
}

// TestInputsRejected: inputs that would give a broken or unlabelled image
// are refused with what to do.
func TestInputsRejected(t *testing.T) {
	good := image.Inputs{Binary: realBinary(t), CACerts: []byte("pem"), Version: "v1", Commit: "c", Created: testCreated}
	for name, tc := range map[string]struct {
		mod  func(*image.Inputs)
		want string
	}{
		"no binary":      {func(in *image.Inputs) { in.Binary = nil }, "no datalab binary"},
		"not ELF":        {func(in *image.Inputs) { in.Binary = []byte("#!/bin/sh\n") }, "not a linux executable"},
		"dynamic shell":  {func(in *image.Inputs) { in.Shell = dynamicELF(t) }, "dynamically linked"},
		"bad version":    {func(in *image.Inputs) { in.Version = "v1/x" }, "cannot be an image tag"},
		"no time":        {func(in *image.Inputs) { in.Created = time.Time{} }, "SOURCE_DATE_EPOCH"},
		"no certificate": {func(in *image.Inputs) { in.CACerts = nil }, "ca-certificates"},
	} {
		in := good
		tc.mod(&in)
		if _, err := image.Assemble(in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
	}
}

// dynamicELF is a dynamically linked executable of the host (the go tool's
// cgo-using neighbours are not guaranteed; /bin/ls is).
func dynamicELF(t *testing.T) []byte {
	b, err := os.ReadFile("/bin/ls")
	if err != nil {
		t.Skip("no /bin/ls")
	}
	return b
}

func TestSourceDateEpoch(t *testing.T) {
	for in, want := range map[string]time.Time{"1700000000": time.Unix(1700000000, 0).UTC(), " 0\n": time.Unix(0, 0).UTC()} {
		got, ok, err := image.SourceDateEpoch(in)
		if err != nil || !ok || !got.Equal(want) {
			t.Errorf("%q: %v %v %v", in, got, ok, err)
		}
	}
	if _, ok, err := image.SourceDateEpoch(""); ok || err != nil {
		t.Errorf("empty: ok %v err %v", ok, err)
	}
	for _, bad := range []string{"-1", "1.5", "yesterday", "2026-11-01"} {
		if _, _, err := image.SourceDateEpoch(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzSourceDateEpoch(f *testing.F) {
	for _, s := range []string{"0", "1700000000", "", "-5", "9999999999999999999", "12a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok, err := image.SourceDateEpoch(s)
		if err == nil && ok && got.Unix() < 0 {
			t.Fatalf("%q gave a time before 1970: %v", s, got)
		}
		if err != nil && ok {
			t.Fatalf("%q: ok with an error", s)
		}
	})
}
