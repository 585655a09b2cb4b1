package objstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// ManifestName is the object inside a directory's prefix that lists the
// directory's files. The leading underscore makes Hadoop and Spark skip it
// when they list input files (as they skip _SUCCESS), so a model directory
// on S3 still loads in Spark.
const ManifestName = "_datalab_manifest.json"

// manifestSchema is the version of the manifest layout.
const manifestSchema = 1

// transfers bounds the concurrent uploads or downloads of one directory:
// object stores answer small requests slowly, not rarely, and a model
// directory is many small files.
const transfers = 8

// Manifest lists a directory's files. UploadDir writes it after every file
// is stored, as one object — the directory's commit point, as _SUCCESS is
// for a Hadoop output directory. Readers go through it: a prefix without a
// manifest is not a directory (an interrupted first upload), files not
// listed in it are ignored, and each listed file is verified against the
// sha256 and size recorded here.
//
// Why a manifest rather than uploading to a temporary prefix and copying:
// object stores have no rename and no multi-object transaction, so copying
// N objects into place publishes them one at a time exactly like uploading
// them does — a reader could still see a mix of old and new files. One PUT
// of a manifest is atomic, needs no second copy of the data, gives every
// file a checksum, and lets one GET tell whether a directory is unchanged.
// A reader that overlaps a writer of the same prefix reads files that no
// longer match its manifest and fails loudly (ErrOtherVersion or
// ErrCorrupt); it never takes a mix for a whole.
type Manifest struct {
	Schema int            `json:"schema"`
	Files  []ManifestFile `json:"files"`
}

// ManifestFile is one file of a directory.
type ManifestFile struct {
	// Path is slash-separated and relative to the directory.
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Size is the total size of the files.
func (m *Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Join appends a slash-separated path to a key prefix ("" is the root).
func Join(prefix, rel string) string {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return rel
	}
	return prefix + "/" + rel
}

// Kind is what a key names in a store.
type Kind int

// Kinds returned by Lookup.
const (
	Missing Kind = iota
	File
	Dir
)

func (k Kind) String() string {
	return [...]string{"missing", "file", "directory"}[k]
}

// Lookup tells whether key is a directory (it has a manifest), a file, or
// missing.
func (s *Store) Lookup(ctx context.Context, key string) (Kind, error) {
	for _, c := range []struct {
		key  string
		kind Kind
	}{{Join(key, ManifestName), Dir}, {key, File}} {
		_, err := s.Stat(ctx, c.key)
		if err == nil {
			return c.kind, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Missing, err
		}
	}
	return Missing, nil
}

// localFiles lists the regular files under dir (symlinks to files followed,
// .git skipped — the files the pipeline hashes for a directory),
// slash-separated and sorted.
func localFiles(dir string) ([]string, error) {
	var files []string
	fsys := os.DirFS(dir)
	err := fs.WalkDir(fsys, ".", func(rel string, e fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case e.IsDir() && e.Name() == ".git":
			return fs.SkipDir
		case e.IsDir():
			return nil
		}
		if info, err := fs.Stat(fsys, rel); err != nil || !info.Mode().IsRegular() {
			return err
		}
		files = append(files, rel)
		return nil
	})
	slices.Sort(files)
	return files, err
}

// LocalManifest hashes the files of the local directory dir as UploadDir
// lists them (regular files, symlinks followed, .git skipped), so a caller
// can tell whether a stored directory holds exactly these bytes.
func LocalManifest(dir string) (*Manifest, error) {
	files, err := localFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	m := &Manifest{Schema: manifestSchema, Files: make([]ManifestFile, len(files))}
	for i, rel := range files {
		d, err := digestFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		m.Files[i] = ManifestFile{Path: rel, SHA256: d.sha256, Size: d.size}
	}
	return m, nil
}

// Equal reports whether m and o list the same files with the same sha256
// and size (both sorted by path, as LocalManifest and UploadDir write them).
func (m *Manifest) Equal(o *Manifest) bool {
	return m.Schema == o.Schema && slices.Equal(m.Files, o.Files)
}

func (m *Manifest) encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	return append(b, '\n'), err
}

// UploadDir stores the files of the local directory dir under prefix and
// then its manifest (see Manifest), and deletes objects under prefix that
// the new manifest does not list. When the stored manifest already equals
// the local one nothing is sent; otherwise files whose stored sha256 is
// already right are not sent again. It returns the manifest and how many
// files were sent.
func (s *Store) UploadDir(ctx context.Context, prefix, dir string) (*Manifest, int, error) {
	m, err := LocalManifest(dir)
	if err != nil {
		return nil, 0, err
	}
	body, err := m.encode()
	if err != nil {
		return nil, 0, err
	}
	mkey := Join(prefix, ManifestName)
	if cur, err := s.Get(ctx, mkey, ""); err == nil && bytes.Equal(cur, body) {
		return m, 0, nil
	}
	sent := make([]bool, len(m.Files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(transfers)
	for i, f := range m.Files {
		g.Go(func() error {
			local := filepath.Join(dir, filepath.FromSlash(f.Path))
			obj, ok, err := s.Upload(gctx, Join(prefix, f.Path), local)
			sent[i] = ok
			// Upload hashes the file again: the manifest must describe
			// what was stored, so a file that changed since LocalManifest
			// fails the upload.
			if err == nil && (obj.SHA256 != f.SHA256 || obj.Size != f.Size) {
				err = fmt.Errorf("upload %s: %s changed while the directory was being uploaded; run again", dir, f.Path)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	if _, err := s.Put(ctx, mkey, body); err != nil {
		return nil, 0, err
	}
	if err := s.deleteUnlisted(ctx, prefix, m); err != nil {
		return nil, 0, err
	}
	return m, count(sent), nil
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// deleteUnlisted removes the files of an earlier version of the directory.
// It runs after the new manifest is stored, so no reader following a
// manifest is sent to a deleted key by the new one.
func (s *Store) deleteUnlisted(ctx context.Context, prefix string, m *Manifest) error {
	listed := map[string]bool{Join(prefix, ManifestName): true}
	for _, f := range m.Files {
		listed[Join(prefix, f.Path)] = true
	}
	objs, err := s.List(ctx, Join(prefix, ""))
	if err != nil {
		return err
	}
	for _, o := range objs {
		if !listed[o.Key] {
			if err := s.Delete(ctx, o.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReadManifest returns the verified manifest of the directory at prefix;
// a prefix without one wraps ErrNotFound.
func (s *Store) ReadManifest(ctx context.Context, prefix string) (*Manifest, error) {
	key := Join(prefix, ManifestName)
	body, err := s.Get(ctx, key, "")
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", s.location, key, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", s.location, key, err)
	}
	return &m, nil
}

// check rejects manifests that could write outside the target directory
// or that this version does not understand.
func (m *Manifest) check() error {
	if m.Schema != manifestSchema {
		return fmt.Errorf("manifest schema %d, this datalab understands %d", m.Schema, manifestSchema)
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if f.Path == "" || f.Path == "." || path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == ".." || strings.HasPrefix(f.Path, "../") || strings.Contains(f.Path, "\\") {
			return fmt.Errorf("manifest lists an unsafe path %q", f.Path)
		}
		if seen[f.Path] {
			return fmt.Errorf("manifest lists %q twice", f.Path)
		}
		seen[f.Path] = true
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 || f.Size < 0 {
			return fmt.Errorf("manifest entry %q has an invalid sha256 or size", f.Path)
		}
	}
	return nil
}

// DownloadDir replaces the local directory dir with the directory stored
// at prefix: the files its manifest lists, each verified against the
// manifest's sha256 and size, are downloaded into a temporary sibling
// directory that is renamed into place only when all of them arrived. Any
// failure leaves dir as it was.
func (s *Store) DownloadDir(ctx context.Context, prefix, dir string) (*Manifest, error) {
	m, err := s.ReadManifest(ctx, prefix)
	if err != nil {
		return nil, err
	}
	tmp, err := atomicfile.TempDirBeside(dir, "download")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // after the rename below this is a no-op
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(transfers)
	for _, f := range m.Files {
		g.Go(func() error {
			key := Join(prefix, f.Path)
			obj, err := s.Download(gctx, key, filepath.Join(tmp, filepath.FromSlash(f.Path)), f.SHA256)
			if err == nil && obj.Size != f.Size {
				err = &ChecksumError{Store: s.location, Key: key, WantSize: f.Size, GotSize: obj.Size}
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := atomicfile.ReplaceDir(tmp, dir); err != nil {
		return nil, fmt.Errorf("download %s: %w", prefix, err)
	}
	return m, nil
}
