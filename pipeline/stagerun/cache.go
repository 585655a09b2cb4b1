package stagerun

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// Cache is the run cache: a content-addressed store of stage outs, keyed
// by stage key, shared by every workspace that points at it (the main one
// and `datalab exp` workspaces). Outs are stored and restored as hard
// links, never byte copies (a copy only where the cache is on another
// device), so ten experiments reusing a 300 MB out cost 300 MB once.
//
// Layout under the cache directory:
//
//	objects/ab/<sha256>   one file per distinct content, read-only
//	runs/<stage key>.json the outs of a successful run of that key
//
// Objects are written by link-to-temporary + rename and run entries
// atomically, so concurrent runs storing the same key or object never
// leave a partial one.
type Cache struct {
	dir string
	// copyWarned is set once a cross-device copy was logged.
	copyWarned bool
}

// CacheEntry is runs/<key>.json: what a successful run of a stage key
// produced.
type CacheEntry struct {
	Key    string     `json:"key"`
	Stage  string     `json:"stage"`
	Stored time.Time  `json:"stored"`
	Outs   []CacheOut `json:"outs"`
}

// CacheOut is one out of a cache entry: its lock digest and its files (one
// file with Path "" for a file out; every file of a directory out, by
// slash path relative to it).
type CacheOut struct {
	Path   string      `json:"path"`
	SHA256 string      `json:"sha256"`
	Size   int64       `json:"size"`
	Dir    bool        `json:"dir,omitempty"`
	Files  []CacheFile `json:"files"`
}

// CacheFile is a file of an out and the object holding its content.
type CacheFile struct {
	Path   string `json:"path,omitempty"`
	Object string `json:"object"` // sha256 of the content
	Size   int64  `json:"size"`
	// MtimeNs is the object's modification time when stored: an object
	// written in place later (which its read-only mode does not prevent
	// for root) is detected by it and by Size.
	MtimeNs int64 `json:"mtime_ns"`
}

// OpenCache opens (creating) the run cache at dir.
func OpenCache(dir string) (*Cache, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"objects", "runs"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("run cache: %w (set --cache-dir or DATALAB_CACHE_DIR to a writable directory, or --no-cache)", err)
		}
	}
	return &Cache{dir: abs}, nil
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) objectPath(sum string) string {
	return filepath.Join(c.dir, "objects", sum[:2], sum)
}

func (c *Cache) entryPath(key string) string {
	return filepath.Join(c.dir, "runs", key+".json")
}

// Has reports whether a run entry for key exists.
func (c *Cache) Has(key string) bool {
	_, err := os.Stat(c.entryPath(key))
	return err == nil
}

// Entry reads the run entry of key.
func (c *Cache) Entry(key string) (*CacheEntry, error) {
	data, err := os.ReadFile(c.entryPath(key))
	if err != nil {
		return nil, err
	}
	var e CacheEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("run cache entry %s: %w", key, err)
	}
	return &e, nil
}

// Keys lists the stage keys with a run entry, sorted.
func (c *Cache) Keys() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(c.dir, "runs"))
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range ents {
		if k, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(k, ".") {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Size is the bytes the cache holds: its objects and run entries.
func (c *Cache) Size() (int64, error) {
	var total int64
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			total += info.Size()
		}
		return err
	})
	return total, err
}

// GC removes the run entries whose key keep rejects, then every object no
// remaining entry references. An object still linked from a workspace is
// only unlinked from the cache; freed counts the bytes really released
// (objects with no other link).
func (c *Cache) GC(keep func(key string) bool) (freed int64, err error) {
	keys, err := c.Keys()
	if err != nil {
		return 0, err
	}
	referenced := map[string]bool{}
	for _, k := range keys {
		e, err := c.Entry(k)
		if err == nil && keep(k) {
			for _, o := range e.Outs {
				for _, f := range o.Files {
					referenced[f.Object] = true
				}
			}
			continue
		}
		if info, serr := os.Stat(c.entryPath(k)); serr == nil {
			freed += info.Size()
		}
		if rerr := os.Remove(c.entryPath(k)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return freed, fmt.Errorf("run cache gc: %w", rerr)
		}
	}
	err = filepath.WalkDir(filepath.Join(c.dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if referenced[name] {
			return nil
		}
		// A run storing it right now links it before writing its entry:
		// leave recent temporaries and objects alone.
		info, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		if strings.HasPrefix(name, ".") && time.Since(info.ModTime()) < time.Hour {
			return nil
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("run cache gc: %w", err)
		}
		if linkCount(info) <= 1 {
			freed += info.Size()
		}
		return nil
	})
	return freed, err
}

func linkCount(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// store records the outs of a successful run of key. Each file of the outs
// gets an object (a hard link to the out's file when the object is new),
// then the entry is written.
func (c *Cache) store(root, stage, key string, outs []LockPath, h *hasher, log *slog.Logger) error {
	e := CacheEntry{Key: key, Stage: stage, Stored: time.Now().UTC()}
	for _, o := range outs {
		abs := filepath.Join(root, filepath.FromSlash(o.Path))
		info, err := os.Stat(abs)
		if err != nil {
			return err
		}
		co := CacheOut{Path: o.Path, SHA256: o.SHA256, Size: o.Size, Dir: info.IsDir()}
		if !info.IsDir() {
			f, err := c.storeFile(abs, "", h, log)
			if err != nil {
				return err
			}
			co.Files = []CacheFile{f}
		} else {
			err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					if d.Name() == ".git" {
						return filepath.SkipDir
					}
					return nil
				}
				fi, err := os.Stat(p)
				if err != nil || !fi.Mode().IsRegular() {
					return err
				}
				rel, _ := filepath.Rel(abs, p)
				f, err := c.storeFile(p, filepath.ToSlash(rel), h, log)
				if err != nil {
					return err
				}
				co.Files = append(co.Files, f)
				return nil
			})
			if err != nil {
				return err
			}
		}
		e.Outs = append(e.Outs, co)
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.entryPath(key), append(data, '\n'))
}

// storeFile makes sure the content of the file at abs is an object and
// returns its record.
func (c *Cache) storeFile(abs, rel string, h *hasher, log *slog.Logger) (CacheFile, error) {
	sum, size, err := h.contentSum(abs)
	if err != nil {
		return CacheFile{}, err
	}
	obj := c.objectPath(sum)
	info, err := os.Stat(obj)
	if err != nil || info.Size() != size {
		if err := c.linkInto(abs, obj, log); err != nil {
			return CacheFile{}, err
		}
		// Linking changed the file's ctime: remember it as hashed.
		h.refresh(abs, sum, size)
		if info, err = os.Stat(obj); err != nil {
			return CacheFile{}, err
		}
	} else if err := c.dedupe(abs, obj, sum, size, h, log); err != nil {
		return CacheFile{}, err
	}
	return CacheFile{Path: rel, Object: sum, Size: size, MtimeNs: info.ModTime().UnixNano()}, nil
}

// dedupe replaces the out file at abs, whose content the cache already
// holds as obj, with a hard link to obj, so a stage that writes the same
// bytes again (every experiment's copy of an unchanged lookup file) does
// not keep a second copy. The object is re-hashed first (through the hash
// state, so cheaply when unchanged): an object modified in place must not
// replace a good out. Any failure leaves the out as it is.
func (c *Cache) dedupe(abs, obj, sum string, size int64, h *hasher, log *slog.Logger) error {
	outInfo, err := os.Stat(abs)
	if err != nil {
		return err
	}
	objInfo, err := os.Stat(obj)
	if err != nil || os.SameFile(outInfo, objInfo) {
		return nil
	}
	if got, _, err := h.contentSum(obj); err != nil || got != sum {
		log.Warn("run cache object differs from its name; keeping the out as it is", "object", obj)
		return nil
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".dedupe-"+strconv.FormatUint(rand.Uint64(), 36))
	if err := os.Link(obj, tmp); err != nil {
		return nil // another device or no hard links: the copy stays
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return nil
	}
	h.refresh(abs, sum, size)
	return nil
}

// linkInto publishes src as dst: a hard link (a copy across devices) to a
// temporary name beside dst, made read-only, renamed onto dst.
func (c *Cache) linkInto(src, dst string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
	if err := c.linkOrCopy(src, tmp, log); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o444); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// linkOrCopy hard-links src to dst, copying only when they are on
// different devices (or the file system has no hard links).
func (c *Cache) linkOrCopy(src, dst string, log *slog.Logger) error {
	err := os.Link(src, dst)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EMLINK) {
		return fmt.Errorf("run cache: %w", err)
	}
	if !c.copyWarned {
		c.copyWarned = true
		log.Warn("run cache: cannot hard-link, copying (put the cache on the workspace's file system to avoid copies: --cache-dir)", "from", src, "to", filepath.Dir(dst), "err", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

// errCacheMiss says why a stage could not be restored from the cache.
type errCacheMiss struct{ why string }

func (e errCacheMiss) Error() string { return e.why }

// check verifies every object of the entry exists with its recorded size
// and modification time. An entry that fails is removed (with a modified
// object), so the stage's next successful run stores it again.
func (c *Cache) check(e *CacheEntry, outs []string) error {
	var paths []string
	for _, o := range e.Outs {
		paths = append(paths, o.Path)
		for _, f := range o.Files {
			info, err := os.Stat(c.objectPath(f.Object))
			if err != nil {
				os.Remove(c.entryPath(e.Key))
				return errCacheMiss{fmt.Sprintf("object %s of %s is missing: removed the entry from the cache", f.Object[:12], o.Path)}
			}
			if info.Size() != f.Size || info.ModTime().UnixNano() != f.MtimeNs {
				// Drop the object and the entry: the stage runs and stores
				// them afresh.
				os.Remove(c.objectPath(f.Object))
				os.Remove(c.entryPath(e.Key))
				return errCacheMiss{fmt.Sprintf("object %s of %s was modified (size %d, want %d): removed it from the cache", f.Object[:12], o.Path, info.Size(), f.Size)}
			}
		}
	}
	if !slices.Equal(paths, outs) {
		return errCacheMiss{"the entry's outs differ from the stage's"}
	}
	return nil
}

// restore puts the entry's outs in place under root by hard links: a file
// out via a temporary link renamed over it, a directory out rebuilt beside
// it and renamed into place.
func (c *Cache) restore(root string, e *CacheEntry, log *slog.Logger) error {
	for _, o := range e.Outs {
		dst := filepath.Join(root, filepath.FromSlash(o.Path))
		if !o.Dir {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if info, err := os.Lstat(dst); err == nil && info.IsDir() {
				if err := os.RemoveAll(dst); err != nil {
					return err
				}
			}
			tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".cache-"+strconv.FormatUint(rand.Uint64(), 36))
			if err := c.linkOrCopy(c.objectPath(o.Files[0].Object), tmp, log); err != nil {
				return err
			}
			if err := os.Rename(tmp, dst); err != nil {
				os.Remove(tmp)
				return err
			}
			continue
		}
		if info, err := os.Lstat(dst); err == nil && !info.IsDir() {
			if err := os.Remove(dst); err != nil {
				return err
			}
		}
		tmp, err := atomicfile.TempDirBeside(dst, "cache")
		if err != nil {
			return err
		}
		for _, f := range o.Files {
			p := filepath.Join(tmp, filepath.FromSlash(f.Path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				os.RemoveAll(tmp)
				return err
			}
			if err := c.linkOrCopy(c.objectPath(f.Object), p, log); err != nil {
				os.RemoveAll(tmp)
				return err
			}
		}
		if err := atomicfile.ReplaceDir(tmp, dst); err != nil {
			os.RemoveAll(tmp)
			return err
		}
	}
	return nil
}

// sha256File hashes a file's bytes as they are (no LFS pointer reading).
func sha256File(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	sum := sha256.New()
	n, err := io.Copy(sum, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(sum.Sum(nil)), n, nil
}

// unlinkOuts removes the files of outs that have other hard links (the run
// cache's objects) before a stage runs, so a command writing an out in
// place (a shell redirect truncates the file) writes a new file instead of
// the cached object. Their content stays in the cache.
func unlinkOuts(root string, outs []string) error {
	for _, o := range outs {
		abs := filepath.Join(root, filepath.FromSlash(o))
		err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil || d.IsDir() {
				return err
			}
			info, err := os.Lstat(p)
			if err != nil || !info.Mode().IsRegular() || linkCount(info) <= 1 {
				return err
			}
			return os.Remove(p)
		})
		if err != nil {
			return fmt.Errorf("unlink cached out %s before running: %w", o, err)
		}
	}
	return nil
}
