package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/git-lfs/git-lfs/v3/lfs"
)

// PointerSuffix ends every pointer file's name: data/pointers/<set>/<path>.pointer.
const PointerSuffix = ".pointer"

// PointersDir is the directory under the data directory that holds the
// pointer files, one subdirectory per set; no set may take its name.
const PointersDir = "pointers"

// EmptyOid is the sha256 of zero bytes: the oid of an empty file, whose
// git-LFS pointer is the empty string.
const EmptyOid = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// maxPointerSize is git-LFS's cutoff: a blob this large is never a pointer.
const maxPointerSize = lfs.BlobSizeCutoff

// Pointer is the content of a git-LFS pointer file: the sha256 and size of
// the real file it stands for.
type Pointer struct {
	Oid  string // lower-case hex sha256 of the content
	Size int64  // content length in bytes
}

// Encode returns the exact git-LFS spec v1 bytes of p, as git-lfs itself
// writes them ("version …\noid sha256:…\nsize …\n"); an empty file's pointer
// is the empty string, per the spec.
func (p Pointer) Encode() []byte {
	return []byte(lfs.NewPointer(p.Oid, p.Size, nil).Encoded())
}

// String is the oid and size, for messages.
func (p Pointer) String() string { return fmt.Sprintf("sha256:%s (%d bytes)", p.Oid, p.Size) }

// DecodePointer parses a git-LFS pointer file with git-lfs's parser and
// accepts only what this package writes: a sha256 oid and no extensions.
// Empty input is the pointer of an empty file.
func DecodePointer(data []byte) (Pointer, error) {
	if len(data) >= maxPointerSize {
		return Pointer{}, fmt.Errorf("not a git-LFS pointer: %d bytes, pointers are under %d", len(data), maxPointerSize)
	}
	p, err := lfs.DecodePointer(bytes.NewReader(data))
	if err != nil {
		return Pointer{}, fmt.Errorf("not a git-LFS pointer: %w", err)
	}
	if p.OidType != "sha256" {
		return Pointer{}, fmt.Errorf("git-LFS pointer has oid type %q, want sha256", p.OidType)
	}
	if len(p.Extensions) > 0 {
		return Pointer{}, errors.New("git-LFS pointer uses extensions, which datalab does not apply")
	}
	if p.Size == 0 && p.Oid != EmptyOid {
		return Pointer{}, fmt.Errorf("git-LFS pointer declares size 0 but oid %s (an empty file's oid is %s)", p.Oid, EmptyOid)
	}
	return Pointer{Oid: p.Oid, Size: p.Size}, nil
}

// ReadPointerFile reads and parses the pointer file at path.
func ReadPointerFile(path string) (Pointer, error) {
	f, err := os.Open(path)
	if err != nil {
		return Pointer{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPointerSize))
	if err != nil {
		return Pointer{}, fmt.Errorf("read pointer %s: %w", path, err)
	}
	p, err := DecodePointer(data)
	if err != nil {
		return Pointer{}, fmt.Errorf("pointer %s: %w", path, err)
	}
	return p, nil
}

// HashReader returns the pointer (sha256 and size) of everything r yields.
func HashReader(r io.Reader) (Pointer, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Pointer{}, err
	}
	return Pointer{Oid: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// HashFile returns the pointer (sha256 and size) of the file at path.
func HashFile(path string) (Pointer, error) {
	f, err := os.Open(path)
	if err != nil {
		return Pointer{}, err
	}
	defer f.Close()
	p, err := HashReader(f)
	if err != nil {
		return Pointer{}, fmt.Errorf("hash %s: %w", path, err)
	}
	return p, nil
}
