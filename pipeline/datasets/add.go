package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// AddOptions configure [Catalog.Add]. Empty fields keep what the catalog
// already says about the file.
type AddOptions struct {
	// Store is the object store directory; empty means DefaultStoreDir.
	Store string
	// URL is the origin download URL of these exact bytes.
	URL string
	// Mirror is the file's path relative to a mirror root.
	Mirror string
	// Format and Schema override the set's defaults for this file.
	Format, Schema string
}

// Add declares the file at src as file rel of set setName (which must
// exist: see [Catalog.PutSet]): it hashes src, stores it in the object
// store, copies it to the working path (unless src is the working path),
// writes the git-LFS pointer and adds or updates the catalog entry. The
// catalog is saved.
func (c *Catalog) Add(setName, rel, src string, opts AddOptions) (*File, error) {
	s, err := c.Set(setName)
	if err != nil {
		return nil, fmt.Errorf("%w: create it first (datalab data add --set %s --format …)", err, setName)
	}
	if err := checkRelPath(rel); err != nil {
		return nil, fmt.Errorf("add to set %s: %w", setName, err)
	}
	if strings.HasSuffix(rel, PointerSuffix) {
		return nil, fmt.Errorf("add %s: pointer files are written by datalab, not added", rel)
	}
	st, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("add %s: %w", src, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("add %s: not a regular file (add the files inside a directory one by one)", src)
	}
	p, err := HashFile(src)
	if err != nil {
		return nil, err
	}
	store := c.store(opts.Store)
	if p.Size > 0 && !store.Has(p) {
		if err := store.PutFile(src, p); err != nil {
			return nil, fmt.Errorf("add %s to the object store: %w", src, err)
		}
	}

	f, err := s.File(rel)
	if err != nil {
		f = &File{Path: rel}
		s.Files = append(s.Files, f)
	}
	f.Pointer = p
	if opts.URL != "" {
		f.URL = opts.URL
	}
	if opts.Mirror != "" {
		f.Mirror = opts.Mirror
	}
	if opts.Format != "" {
		f.Format = opts.Format
	}
	if opts.Schema != "" {
		f.Schema = opts.Schema
	}
	if err := c.validate(); err != nil {
		return nil, err
	}

	wp := s.WorkingPath(f)
	if !samePath(src, wp) {
		if err := materialiseFromStore(store, c.dir, s.workingRel(f), p); err != nil {
			return nil, fmt.Errorf("add %s: materialise %s: %w", src, wp, err)
		}
	}
	if err := atomicfile.WriteFileIn(c.dir, s.pointerRel(f), p.Encode()); err != nil {
		return nil, err
	}
	return f, c.Save()
}

// Locate maps a path on disk to the set and file path it would have in this
// catalog: a path inside the data directory is <set>/<rel>; a path outside
// needs setName and is placed at the top of that set's directory.
func (c *Catalog) Locate(path, setName string) (set, rel string, err error) {
	absData, err := filepath.Abs(c.dir)
	if err != nil {
		return "", "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	r, err := filepath.Rel(absData, abs)
	if err == nil && r != "." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && r != ".." {
		first, rest, ok := strings.Cut(filepath.ToSlash(r), "/")
		if !ok {
			return "", "", fmt.Errorf("%s is directly in %s: data files live in a set directory, %s/<set>/…", path, c.dir, c.dir)
		}
		if setName != "" && setName != first {
			return "", "", fmt.Errorf("%s is in set directory %s, not %s: drop --set or move the file", path, first, setName)
		}
		return first, rest, nil
	}
	if setName == "" {
		return "", "", fmt.Errorf("%s is outside %s: say which set it belongs to with --set", path, c.dir)
	}
	return setName, filepath.Base(abs), nil
}

func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	if aa == bb {
		return true
	}
	sa, err1 := os.Stat(aa)
	sb, err2 := os.Stat(bb)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// materialiseFromStore copies the stored object p to rel below dir,
// verifying it.
func materialiseFromStore(store Store, dir, rel string, p Pointer) error {
	if p.Size == 0 {
		return atomicfile.WriteFileIn(dir, rel, nil)
	}
	r, err := os.Open(store.Path(p.Oid))
	if err != nil {
		return err
	}
	defer r.Close()
	mm, err := copyVerified(dir, rel, r, p)
	if err != nil {
		return err
	}
	if mm != nil {
		return fmt.Errorf("object store copy %s is corrupt (%s instead of %s): delete it and add again", store.Path(p.Oid), mm.Got, p)
	}
	return nil
}
