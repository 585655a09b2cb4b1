package stagerun

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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
	abs := filepath.Join(h.root, filepath.FromSlash(rel))
	info, err := os.Stat(abs)
	if err != nil {
		return Digest{}, err
	}
	var d Digest
	if info.IsDir() {
		d, err = h.hashDir(abs)
	} else {
		d, err = h.fileDigest(abs)
	}
	if err != nil {
		return Digest{}, fmt.Errorf("hash %s: %w", rel, err)
	}
	h.cache[rel] = d
	return d, nil
}

func (h *hasher) hashDir(dir string) (Digest, error) {
	sum := sha256.New()
	var total int64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if e.Name() == ".git" || e.Name() == ".datalab" {
				return filepath.SkipDir
			}
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
