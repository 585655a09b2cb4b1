package image

import (
	"bytes"
	"cmp"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// BuildOptions say how BuildBinary builds datalab.
type BuildOptions struct {
	// Dir is the module root (the directory holding go.mod).
	Dir string
	// Package is the main package, "./cmd/datalab" when empty.
	Package string
	// Version is stamped into main.version.
	Version string
	// Arch is the target GOARCH (the host's when empty).
	Arch string
	// Go is the go command ("go" from PATH when empty).
	Go string
}

// BuildBinary builds a static, reproducible linux binary of datalab and
// returns its bytes: CGO_ENABLED=0 (no libc, so it runs on an empty base),
// -trimpath and -buildvcs=false (no checkout path or VCS stamp, so two
// checkouts of one commit give the same bytes), -s -w (no symbol table or
// DWARF).
func BuildBinary(ctx context.Context, o BuildOptions) ([]byte, error) {
	if o.Package == "" {
		o.Package = "./cmd/datalab"
	}
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if st, err := os.Stat(filepath.Join(o.Dir, o.Package)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("no package %s in %q: build from the repository root", o.Package, o.Dir)
	}
	tmp, err := os.MkdirTemp("", "datalab-image-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "datalab")
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version="+o.Version, "-o", out, o.Package)
	cmd.Dir = o.Dir
	// GOFLAGS from the caller's environment could add flags that change the
	// bytes (-race, -cover, …); the build must depend on the source only.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch, "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", o.Package, err, stderr.Bytes())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	return b, checkStatic("datalab binary", b)
}

// checkStatic fails unless b is an ELF executable without a program
// interpreter (a dynamically linked binary would not start on an empty base).
func checkStatic(what string, b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s is not a linux executable: %w", what, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: build with CGO_ENABLED=0 (or install the static variant, e.g. Debian's busybox-static)", what)
		}
	}
	return nil
}

// Default host paths of the inputs that do not come from the repository.
const (
	HostCACertsFile = "/etc/ssl/certs/ca-certificates.crt" // Debian's ca-certificates
	HostShellFile   = "/bin/busybox"                       // Debian's busybox-static
)

// HostCACerts reads the host's CA bundle (HostCACertsFile when path is empty).
func HostCACerts(path string) ([]byte, error) {
	path = cmp.Or(path, HostCACertsFile)
	b, err := readHostFile(path, "CA certificates", "ca-certificates")
	if err == nil && !bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) {
		err = fmt.Errorf("CA certificates: %s holds no PEM certificate", path)
	}
	return b, err
}

// HostShell reads a static busybox for the pipeline image's /bin/sh
// (HostShellFile when path is empty).
func HostShell(path string) ([]byte, error) {
	path = cmp.Or(path, HostShellFile)
	b, err := readHostFile(path, "shell for the pipeline image", "busybox-static")
	if err != nil {
		return nil, err
	}
	return b, checkStatic(path, b)
}

// readHostFile reads path, saying which Debian package provides it when it
// is missing.
func readHostFile(path, what, debianPackage string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (Debian: apt-get install %s)", what, err, debianPackage)
	}
	return b, nil
}

// Revision is the commit an image set is built from.
type Revision struct {
	Commit string
	Time   time.Time // committer time
	// Tag is a tag pointing at the commit, if any (the version default).
	Tag string
}

// ResolveRevision reads rev ("HEAD" when empty) of the git repository
// containing dir.
func ResolveRevision(dir, rev string) (Revision, error) {
	if rev == "" {
		rev = "HEAD"
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return Revision{}, fmt.Errorf("open git repository at %s: %w (give --commit and SOURCE_DATE_EPOCH outside a checkout)", dir, err)
	}
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return Revision{}, fmt.Errorf("resolve %s: %w", rev, err)
	}
	c, err := repo.CommitObject(*h)
	if err != nil {
		return Revision{}, fmt.Errorf("read commit %s: %w", h, err)
	}
	r := Revision{Commit: c.Hash.String(), Time: c.Committer.When.UTC()}
	tags, err := repo.Tags()
	if err != nil {
		return r, err
	}
	var names []string
	err = tags.ForEach(func(ref *plumbing.Reference) error {
		target := ref.Hash()
		if t, err := repo.TagObject(target); err == nil { // annotated tag
			target = t.Target
		}
		if target == c.Hash {
			names = append(names, ref.Name().Short())
		}
		return nil
	})
	if len(names) > 0 {
		// Several tags on one commit: the greatest by string order, so the
		// choice does not depend on iteration order.
		r.Tag = names[0]
		for _, n := range names[1:] {
			r.Tag = max(r.Tag, n)
		}
	}
	return r, err
}

// SourceDateEpoch parses the SOURCE_DATE_EPOCH convention
// (reproducible-builds.org): seconds since 1970 as a decimal integer. ok is
// false when value is empty.
func SourceDateEpoch(value string) (t time.Time, ok bool, err error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return time.Time{}, false, nil
	}
	s, err := strconv.ParseInt(value, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, false, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970 (e.g. git log -1 --format=%%ct)", value)
	}
	return time.Unix(s, 0).UTC(), true, nil
}

// Origin is the revision an image set is labelled with and its creation
// time. The time is SOURCE_DATE_EPOCH when epoch (its value) is set, else the
// commit's committer time. commit ("HEAD" when empty) is resolved in the git
// repository containing dir; outside a checkout (a build container given the
// tree without .git) a full commit id and SOURCE_DATE_EPOCH are enough.
func Origin(dir, commit, epoch string) (Revision, time.Time, error) {
	t, haveEpoch, err := SourceDateEpoch(epoch)
	if err != nil {
		return Revision{}, time.Time{}, err
	}
	r, err := ResolveRevision(dir, commit)
	if err != nil {
		if !haveEpoch || !isCommitID(commit) {
			return r, t, err
		}
		r = Revision{Commit: strings.ToLower(commit)}
	}
	if !haveEpoch {
		t = r.Time
	}
	return r, t, nil
}

func isCommitID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range strings.ToLower(s) {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// DefaultVersion is the version of an image set built from r: a tag on the
// commit, else git-<first 12 hex digits of the commit>.
func (r Revision) DefaultVersion() string {
	if r.Tag != "" {
		return r.Tag
	}
	return "git-" + r.Commit[:min(12, len(r.Commit))]
}
