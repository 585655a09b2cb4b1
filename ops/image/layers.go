package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one file, directory or symlink of a layer. Paths are absolute
// inside the image.
type entry struct {
	path     string
	mode     int64 // permission bits, plus 0o1000 for the sticky bit
	uid, gid int
	dir      bool
	link     string // symlink target
	body     []byte
}

func dir(p string, mode int64, owner int) entry {
	return entry{path: p, mode: mode, uid: owner, gid: owner, dir: true}
}

func file(p string, mode int64, body []byte) entry {
	return entry{path: p, mode: mode, body: body}
}

// passwd and group name root and the unprivileged datalab user; nologin
// because the images have no login shell.
func passwd() []byte {
	return fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", UserName, UID, GID, UserName, HomeDir)
}

func group() []byte {
	return fmt.Appendf(nil, "root:x:0:\n%s:x:%d:\n", UserName, GID)
}

// baseEntries are the files every image has besides the binary.
func baseEntries(caCerts []byte) []entry {
	return []entry{
		dir("/etc", 0o755, 0),
		file("/etc/passwd", 0o644, passwd()),
		file("/etc/group", 0o644, group()),
		dir("/etc/ssl", 0o755, 0),
		dir("/etc/ssl/certs", 0o755, 0),
		file(CACertsPath, 0o644, caCerts),
		dir("/home", 0o755, 0),
		dir(HomeDir, 0o755, UID),
		dir(WorkDir, 0o755, UID),
		dir("/tmp", 0o1777, 0),
	}
}

func binaryEntries(binary []byte) []entry {
	return []entry{
		dir("/usr", 0o755, 0),
		dir("/usr/local", 0o755, 0),
		dir("/usr/local/bin", 0o755, 0),
		file(BinaryPath, 0o755, binary),
	}
}

func shellEntries(busybox []byte) []entry {
	return []entry{
		dir("/bin", 0o755, 0),
		file(ShellPath, 0o755, busybox),
		{path: "/bin/sh", mode: 0o777, link: path.Base(ShellPath)},
	}
}

// layerTar writes entries as a deterministic tar: sorted by path (so parents
// precede children), numeric owners without names, every mtime set to
// modTime, USTAR format (no PAX records carrying access or change times).
func layerTar(modTime time.Time, entries []entry) ([]byte, error) {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.path, b.path) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, e := range entries {
		if i > 0 && entries[i-1].path == e.path {
			return nil, fmt.Errorf("%s listed twice", e.path)
		}
		h := &tar.Header{
			Name:    strings.TrimPrefix(e.path, "/"),
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: modTime,
			Format:  tar.FormatUSTAR,
		}
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", e.path, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("tar %s: %w", e.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newLayer is an OCI gzip layer of entries. go-containerregistry compresses
// with the standard library's gzip (no header timestamp), so equal tars give
// equal blobs; the compressed bytes are cached so that digests, the layout
// and the tarball compress once.
func newLayer(modTime time.Time, entries []entry) (v1.Layer, error) {
	b, err := layerTar(modTime, entries)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.DefaultCompression),
		tarball.WithCompressedCaching)
}
