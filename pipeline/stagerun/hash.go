package stagerun

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/datalabhq/datalab/pipeline/lfspointer"
)

// Digest is the content hash of a file or directory.
type Digest struct {
	// SHA256 is the hex sha256 of a file's content. For a git-LFS pointer
	// file it is the pointer's oid, which is the sha256 of the real content,
	// so a pointer and its materialised file hash the same. For a directory
	// it is the sha256 of its sorted listing of "path sha256" lines.
	SHA256 string
	// Size is the content size in bytes (a directory's total).
	Size int64
}

// hasher hashes paths under root, remembering results until forget is
// called (after a stage runs, its outputs may have changed). Files of at
// least lfsPointerMax bytes are looked up in the root's hash state first
// (.datalab/hashes: unchanged stat facts, unchanged content), so a run with
// nothing to do does not read the data again.
type hasher struct {
	root  string
	cache map[string]Digest
	state *hashState
}

func newHasher(root string) *hasher {
	return &hasher{root: root, cache: map[string]Digest{}, state: loadHashState(stateFile(root))}
}

func (h *hasher) forget() { clear(h.cache) }

// save writes the hash state for the next run.
func (h *hasher) save() error { return h.state.save() }

// fileDigest hashes one file (see hashFile), through the hash state.
func (h *hasher) fileDigest(abs string) (Digest, error) {
	info, err := os.Stat(abs)
	if err != nil {
		return Digest{}, err
	}
	if info.Size() < lfsPointerMax {
		return hashFile(abs)
	}
	if sum, ok := h.state.lookup(abs, info); ok {
		return Digest{SHA256: sum, Size: info.Size()}, nil
	}
	d, err := hashFile(abs)
	if err != nil {
		return Digest{}, err
	}
	// Only what was read is remembered: a file written while it was hashed
	// has a newer ctime than the one stat gave before.
	if after, err := os.Stat(abs); err == nil && statFacts(after) == statFacts(info) {
		h.state.remember(abs, info, d.SHA256)
	}
	return d, nil
}

// contentSum returns the sha256 of a file's bytes as they are (an LFS
// pointer is not read as its oid), for the run cache's objects.
func (h *hasher) contentSum(abs string) (string, int64, error) {
	info, err := os.Stat(abs)
	if err != nil {
		return "", 0, err
	}
	if info.Size() < lfsPointerMax {
		return sha256File(abs)
	}
	d, err := h.fileDigest(abs)
	return d.SHA256, d.Size, err
}

// refresh re-remembers a file whose content is known but whose ctime just
// changed (a hard link was added).
func (h *hasher) refresh(abs, sum string, size int64) {
	if info, err := os.Stat(abs); err == nil && info.Size() == size && size >= lfsPointerMax {
		h.state.remember(abs, info, sum)
	}
}

// hash returns the digest of rel (slash-separated, relative to root). A
// missing path is an error satisfying errors.Is(err, fs.ErrNotExist).
func (h *hasher) hash(rel string) (Digest, error) {
	if d, ok := h.cache[rel]; ok {
		return d, nil
	}
	pkg, isPkg := strings.CutPrefix(rel, GoPackagePrefix)
	abs := filepath.Join(h.root, filepath.FromSlash(pkg))
	info, err := os.Stat(abs)
	if err != nil {
		return Digest{}, err
	}
	var d Digest
	switch {
	case isPkg && !info.IsDir():
		return Digest{}, fmt.Errorf("hash %s: %s is not a directory", rel, pkg)
	case isPkg:
		d, err = h.hashGoPackage(abs)
	case info.IsDir():
		d, err = h.hashDir(abs)
	default:
		d, err = h.fileDigest(abs)
	}
	if err != nil {
		return Digest{}, fmt.Errorf("hash %s: %w", rel, err)
	}
	h.cache[rel] = d
	return d, nil
}

// GoPackagePrefix marks a code entry that is one Go package of the
// checkout ("pkg:pipeline/ingest"): what the package compiles and embeds,
// not its tests or other packages below it.
const GoPackagePrefix = "pkg:"

// hashGoPackage hashes the Go package in dir: its files except _test.go
// ones, and the files of subdirectories that hold no Go files (assets it
// may embed, e.g. templates/), but not testdata/ nor the subdirectories
// that are packages of their own. Tests and other packages change the
// digest no more than they change what the package builds.
func (h *hasher) hashGoPackage(dir string) (Digest, error) {
	return h.hashTree(dir, func(p string, e fs.DirEntry) bool {
		if e.IsDir() {
			n := e.Name()
			return p != dir && (n == "testdata" || n == ".git" || n == ".datalab" || holdsGoFiles(p))
		}
		return strings.HasSuffix(e.Name(), "_test.go")
	})
}

// holdsGoFiles reports whether dir directly holds a .go file (it is a
// package of its own).
func holdsGoFiles(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
			return true
		}
	}
	return false
}

func (h *hasher) hashDir(dir string) (Digest, error) {
	return h.hashTree(dir, func(_ string, e fs.DirEntry) bool {
		return e.IsDir() && (e.Name() == ".git" || e.Name() == ".datalab")
	})
}

// hashTree hashes the regular files under dir (symlinks followed to files)
// by relative path and content, leaving out the directories and files skip
// reports.
func (h *hasher) hashTree(dir string, skip func(path string, e fs.DirEntry) bool) (Digest, error) {
	sum := sha256.New()
	var total int64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip(p, e) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return nil
		}
		info, err := os.Stat(p) // follows symlinks to files
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		d, err := h.fileDigest(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(sum, "%s %s\n", filepath.ToSlash(rel), d.SHA256)
		total += d.Size
		return nil
	})
	if err != nil {
		return Digest{}, err
	}
	return Digest{SHA256: hex.EncodeToString(sum.Sum(nil)), Size: total}, nil
}

// lfsPointerMax bounds the size of a file checked for being an LFS pointer:
// a pointer is smaller.
const lfsPointerMax = lfspointer.MaxSize

func hashFile(p string) (Digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Digest{}, err
	}
	if info.Size() < lfsPointerMax {
		data, err := io.ReadAll(f)
		if err != nil {
			return Digest{}, err
		}
		if p, err := lfspointer.Decode(data); err == nil {
			return Digest{SHA256: p.Oid, Size: p.Size}, nil
		}
		s := sha256.Sum256(data)
		return Digest{SHA256: hex.EncodeToString(s[:]), Size: int64(len(data))}, nil
	}
	sum := sha256.New()
	n, err := io.Copy(sum, f)
	if err != nil {
		return Digest{}, err
	}
	return Digest{SHA256: hex.EncodeToString(sum.Sum(nil)), Size: n}, nil
}

// HashPath is the digest datalab.lock records for the file or directory
// rel under root (a directory: its sorted "path sha256" listing), so that
// outputs made elsewhere — in a Dagger engine, on another machine — can be
// checked against the lock.
func HashPath(root, rel string) (Digest, error) {
	h := &hasher{root: root, cache: map[string]Digest{}, state: &hashState{entries: map[string]stateEntry{}}}
	return h.hash(rel)
}
