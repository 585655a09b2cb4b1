package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/datalabhq/datalab/pipeline/lfspointer"
)

// PointerSuffix ends every pointer file's name: data/pointers/<set>/<path>.pointer.
const PointerSuffix = ".pointer"

// PointersDir is the directory under the data directory that holds the
// pointer files, one subdirectory per set; no set may take its name.
const PointersDir = "pointers"

// Pointer is the git-LFS pointer of a data file: its sha256 and size,
// written and read by package lfspointer.
type Pointer = lfspointer.Pointer

// ReadPointerFile reads and parses the pointer file at path.
func ReadPointerFile(path string) (Pointer, error) {
	f, err := os.Open(path)
	if err != nil {
		return Pointer{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, lfspointer.MaxSize))
	if err != nil {
		return Pointer{}, fmt.Errorf("read pointer %s: %w", path, err)
	}
	p, err := lfspointer.Decode(data)
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
