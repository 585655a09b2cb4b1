package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// DefaultStoreDir is the object store used when none is given: .datalab/lfs/objects
// in the directory that holds dataDir (the repository root for the default
// data dir "data").
func DefaultStoreDir(dataDir string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(dataDir)), ".datalab", "lfs", "objects")
}

// Store is a local content-addressed object store laid out like
// .git/lfs/objects: Dir/<oid[0:2]>/<oid[2:4]>/<oid>. Objects are written
// only after their sha256 and size were verified, and atomically, and never
// through a symbolic link below Dir that leads out of it.
type Store struct {
	Dir string

	// within, when set, is a directory holding Dir (the repository root for
	// the default store) that writes may not leave either: a linked
	// .datalab is refused as well as a linked objects/ab.
	within string
}

// store is the object store at dir, or the default store of the catalog
// (confined to the repository root) when dir is empty.
func (c *Catalog) store(dir string) Store {
	if dir != "" {
		return Store{Dir: dir}
	}
	return Store{Dir: DefaultStoreDir(c.dir), within: filepath.Dir(filepath.Clean(c.dir))}
}

// writeTarget is the anchor directory and the path below it where the
// object oid is written.
func (s Store) writeTarget(oid string) (dir, rel string) {
	dir = s.Dir
	if s.within != "" {
		dir = s.within
	}
	rel, err := filepath.Rel(dir, s.Path(oid))
	if err != nil {
		return s.Dir, filepath.Base(s.Path(oid))
	}
	return dir, rel
}

// Path is where the object oid lives in the store.
func (s Store) Path(oid string) string {
	if len(oid) < 4 {
		return filepath.Join(s.Dir, "invalid", oid)
	}
	return filepath.Join(s.Dir, oid[0:2], oid[2:4], oid)
}

// Has reports whether the store holds an object of p's oid and size (the
// content is verified when the object is read).
func (s Store) Has(p Pointer) bool {
	st, err := os.Stat(s.Path(p.Oid))
	return err == nil && st.Mode().IsRegular() && st.Size() == p.Size
}

// MismatchError says that a source offered bytes that are not what a pointer
// declares. Nothing was written.
type MismatchError struct {
	File   string // working path of the declared file
	Source string // e.g. "mirror /x/y.csv" or "url https://…"
	Want   Pointer
	Got    Pointer // Got.Size is -1 when the source had more than Want.Size bytes
	Hint   string  // what to do about it
}

func (e *MismatchError) Error() string {
	got := e.Got.String()
	if e.Got.Size < 0 {
		got = fmt.Sprintf("more than %d bytes", e.Want.Size)
	}
	return fmt.Sprintf("%s: %s has different content: declared %s, got %s: %s", e.File, e.Source, e.Want, got, e.Hint)
}

// copyVerified copies r to rel below dir atomically, refusing symbolic
// links out of dir on the way (atomicfile.CreateIn), and publishes it only
// when the bytes hash to want; otherwise nothing is written and a
// *MismatchError (with file, source and hint filled in by the caller) is
// returned.
func copyVerified(dir, rel string, r io.Reader, want Pointer) (*MismatchError, error) {
	dst := filepath.Join(dir, rel)
	f, err := atomicfile.CreateIn(dir, rel)
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	h := sha256.New()
	// Read one byte past the declared size so that an oversized source is
	// caught without copying all of it.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, want.Size+1))
	if err != nil {
		return nil, fmt.Errorf("copy into %s: %w", dst, err)
	}
	got := Pointer{Oid: hex.EncodeToString(h.Sum(nil)), Size: n}
	if n > want.Size {
		got = Pointer{Size: -1}
	}
	if got != want {
		return &MismatchError{Want: want, Got: got}, nil
	}
	return nil, f.Commit()
}

// put stores the content of r under want.Oid after verifying it.
func (s Store) put(r io.Reader, want Pointer) (*MismatchError, error) {
	dir, rel := s.writeTarget(want.Oid)
	return copyVerified(dir, rel, r, want)
}

// PutFile verifies the file at path against want and stores it.
func (s Store) PutFile(path string, want Pointer) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	mm, err := s.put(src, want)
	if err != nil {
		return err
	}
	if mm != nil {
		return fmt.Errorf("%s changed while it was being stored (now %s, expected %s): run the command again", path, mm.Got, want)
	}
	return nil
}

// errNotHeld is returned by sources that do not have a file.
var errNotHeld = errors.New("not held")
