package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// CatalogFile is the catalog's file name inside the data directory.
const CatalogFile = "catalog.yaml"

// Formats are the file formats a catalog may declare; ingest dispatches on
// them.
var Formats = []string{"csv", "csv-noheader", "jsonl", "parquet", "spark-model", "text"}

var setNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Catalog is data/catalog.yaml together with the pointers of every file it
// declares. Open one with [Open]; change it with [Catalog.Add] or
// [Catalog.PutSet], which save it.
type Catalog struct {
	dir  string
	Sets []*Set `yaml:"sets"`
}

// Set is one data set: the files under data/<Name>/ and where they come from.
type Set struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	License     string `yaml:"license"`
	// Format is the default format of the set's files (one of [Formats]).
	Format string `yaml:"format"`
	// Schema names the column layout ingest expects (e.g. bts-2008-29col).
	Schema string `yaml:"schema"`
	// Origin is the homepage of the data set (repository, package page).
	Origin string  `yaml:"origin"`
	Files  []*File `yaml:"files"`

	cat *Catalog
}

// File is one declared file of a set. Oid and Size come from its pointer
// file, not from the catalog, so that the pointer stays the one record of
// the content (and git-LFS tooling can read it).
type File struct {
	// Path is relative to the set's directory, slash-separated.
	Path string `yaml:"path"`
	// Mirror is the file's path relative to a mirror root (DATALAB_MIRROR).
	Mirror string `yaml:"mirror,omitempty"`
	// URL is where the origin serves these exact bytes; empty when no
	// public URL does (e.g. files extracted from a database dump).
	URL string `yaml:"url,omitempty"`
	// Format and Schema override the set's defaults for this file.
	Format string `yaml:"format,omitempty"`
	Schema string `yaml:"schema,omitempty"`

	Pointer `yaml:"-"`
}

// Open reads dataDir/catalog.yaml and every pointer file it declares.
func Open(dataDir string) (*Catalog, error) {
	name := filepath.Join(dataDir, CatalogFile)
	raw, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no data catalog at %s (wrong --data-dir? run from the repository root or `datalab data add` a first file): %w", name, err)
		}
		return nil, fmt.Errorf("read data catalog: %w", err)
	}
	c, err := parseCatalog(raw, dataDir, name)
	if err != nil {
		return nil, err
	}
	for _, s := range c.Sets {
		s.cat = c
		for _, f := range s.Files {
			p, err := ReadPointerFile(s.PointerPath(f))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("set %s: %s is declared in %s but its pointer file is missing: restore it from git, or run `datalab data add %s`", s.Name, f.Path, name, s.WorkingPath(f))
				}
				return nil, fmt.Errorf("set %s: %w", s.Name, err)
			}
			f.Pointer = p
		}
	}
	return c, nil
}

// parseCatalog decodes and validates catalog.yaml (named name in errors)
// without reading the pointer files; the fuzz target FuzzParseCatalog feeds
// it arbitrary bytes.
func parseCatalog(raw []byte, dataDir, name string) (*Catalog, error) {
	c := &Catalog{dir: dataDir}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, s := range c.Sets {
		s.cat = c
	}
	return c, nil
}

// OpenOrNew opens the catalog in dataDir, or returns an empty one (saved on
// the first change) when dataDir has no catalog yet.
func OpenOrNew(dataDir string) (*Catalog, error) {
	if _, err := os.Stat(filepath.Join(dataDir, CatalogFile)); errors.Is(err, fs.ErrNotExist) {
		return &Catalog{dir: dataDir}, nil
	}
	return Open(dataDir)
}

// Dir is the data directory the catalog lives in.
func (c *Catalog) Dir() string { return c.dir }

// Set returns the set called name.
func (c *Catalog) Set(name string) (*Set, error) {
	for _, s := range c.Sets {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no data set %q in %s (known: %s)", name, filepath.Join(c.dir, CatalogFile), strings.Join(c.Names(), ", "))
}

// Names lists the set names in catalog order (sorted).
func (c *Catalog) Names() []string {
	names := make([]string, len(c.Sets))
	for i, s := range c.Sets {
		names[i] = s.Name
	}
	return names
}

// selectSets resolves names to sets; no names means every set.
func (c *Catalog) selectSets(names []string) ([]*Set, error) {
	if len(names) == 0 {
		return c.Sets, nil
	}
	var out []*Set
	for _, n := range names {
		s, err := c.Set(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Dir is the set's working directory, dataDir/<name>.
func (s *Set) Dir() string { return filepath.Join(s.cat.dir, s.Name) }

// File returns the declared file at rel (relative to the set directory).
func (s *Set) File(rel string) (*File, error) {
	for _, f := range s.Files {
		if f.Path == rel {
			return f, nil
		}
	}
	return nil, fmt.Errorf("data set %s declares no file %q", s.Name, rel)
}

// WorkingPath is where f is materialised: dataDir/<set>/<path>.
func (s *Set) WorkingPath(f *File) string {
	return filepath.Join(s.cat.dir, s.workingRel(f))
}

// workingRel is WorkingPath relative to the data directory, where writes
// are confined.
func (s *Set) workingRel(f *File) string {
	return filepath.Join(s.Name, filepath.FromSlash(f.Path))
}

// pointerRel is PointerPath relative to the data directory.
func (s *Set) pointerRel(f *File) string {
	return filepath.Join(PointersDir, s.Name, filepath.FromSlash(f.Path)) + PointerSuffix
}

// PointerPath is f's pointer file, dataDir/pointers/<set>/<path>.pointer.
// Pointers live in their own tree, not beside the working files, so that a
// materialised directory holds only the data set's own files: a Spark model
// directory with stray part-*.pointer files would not load in Spark.
func (s *Set) PointerPath(f *File) string {
	return filepath.Join(s.cat.dir, s.pointerRel(f))
}

// FileFormat is f's format: its own, or else the set's.
func (s *Set) FileFormat(f *File) string {
	if f.Format != "" {
		return f.Format
	}
	return s.Format
}

// FileSchema is f's schema id: its own, or else the set's.
func (s *Set) FileSchema(f *File) string {
	if f.Schema != "" {
		return f.Schema
	}
	return s.Schema
}

// Bytes is the total declared size of the set's files.
func (s *Set) Bytes() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Size
	}
	return n
}

// Oids maps each file's path (relative to the set directory) to its oid, the
// sha256 of its content. Stage runners key caches on these.
func (s *Set) Oids() map[string]string {
	m := make(map[string]string, len(s.Files))
	for _, f := range s.Files {
		m[f.Path] = f.Oid
	}
	return m
}

// Digest is one sha256 over the set's sorted (path, oid, size) triples: it
// changes exactly when some file of the set is added, removed, renamed or
// changed.
func (s *Set) Digest() string {
	h := sha256.New()
	for _, f := range s.Files { // kept sorted by path
		fmt.Fprintf(h, "%s\x00%s\x00%d\n", f.Path, f.Oid, f.Size)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SetInfo is the descriptive part of a set, for [Catalog.PutSet].
type SetInfo struct {
	Name, Description, License, Format, Schema, Origin string
}

// PutSet creates the set info.Name or replaces its description, license,
// format, schema and origin (keeping its files), and saves the catalog.
func (c *Catalog) PutSet(info SetInfo) (*Set, error) {
	s := c.putSet(info)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return s, c.Save()
}

func (c *Catalog) putSet(info SetInfo) *Set {
	s, err := c.Set(info.Name)
	if err != nil {
		s = &Set{Name: info.Name, cat: c}
		c.Sets = append(c.Sets, s)
	}
	s.Description, s.License, s.Format, s.Schema, s.Origin = info.Description, info.License, info.Format, info.Schema, info.Origin
	c.sort()
	return s
}

func (c *Catalog) sort() {
	sort.Slice(c.Sets, func(i, j int) bool { return c.Sets[i].Name < c.Sets[j].Name })
	for _, s := range c.Sets {
		sort.Slice(s.Files, func(i, j int) bool { return s.Files[i].Path < s.Files[j].Path })
	}
}

const catalogHeader = `# datalab data catalog: every data set under data/ and where its bytes come from.
# The content of each file is declared by the git-LFS pointer beside it
# (data/pointers/<set>/<path>.pointer); ` + "`datalab data pull`" + ` materialises it and verifies sha256/size.
# Edited by ` + "`datalab data add`" + ` (sets and files are kept sorted); see data/README.md.
`

// Save writes the catalog atomically, sets and files sorted so that the
// file only changes when its content does.
func (c *Catalog) Save() error {
	c.sort()
	var buf bytes.Buffer
	buf.WriteString(catalogHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("encode data catalog: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode data catalog: %w", err)
	}
	return atomicfile.WriteFileIn(c.dir, CatalogFile, buf.Bytes())
}

func (c *Catalog) validate() error {
	seen := map[string]bool{}
	for i, s := range c.Sets {
		if s == nil {
			return fmt.Errorf("set #%d is empty", i+1)
		}
		if !setNameRE.MatchString(s.Name) {
			return fmt.Errorf("set #%d: name %q must be lower-case letters, digits, '.', '_' or '-'", i+1, s.Name)
		}
		if s.Name == PointersDir {
			return fmt.Errorf("set #%d: the name %q is reserved for the pointer files' directory", i+1, s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("set %s is declared twice", s.Name)
		}
		seen[s.Name] = true
		if err := checkFormat(s.Format); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		files := map[string]bool{}
		for j, f := range s.Files {
			if f == nil {
				return fmt.Errorf("set %s: file #%d is empty", s.Name, j+1)
			}
			if err := checkRelPath(f.Path); err != nil {
				return fmt.Errorf("set %s: file path: %w", s.Name, err)
			}
			if strings.HasSuffix(f.Path, PointerSuffix) {
				return fmt.Errorf("set %s: file %s: a data file may not end in %s", s.Name, f.Path, PointerSuffix)
			}
			if files[f.Path] {
				return fmt.Errorf("set %s: file %s is declared twice", s.Name, f.Path)
			}
			files[f.Path] = true
			if f.Mirror != "" {
				if err := checkRelPath(f.Mirror); err != nil {
					return fmt.Errorf("set %s: file %s: mirror path: %w", s.Name, f.Path, err)
				}
			}
			if f.URL != "" && !strings.HasPrefix(f.URL, "https://") && !strings.HasPrefix(f.URL, "http://") {
				return fmt.Errorf("set %s: file %s: url %q is not http(s)", s.Name, f.Path, f.URL)
			}
			if f.Format != "" {
				if err := checkFormat(f.Format); err != nil {
					return fmt.Errorf("set %s: file %s: %w", s.Name, f.Path, err)
				}
			}
		}
	}
	return nil
}

func checkFormat(format string) error {
	if !slices.Contains(Formats, format) {
		return fmt.Errorf("format %q: want one of %s", format, strings.Join(Formats, ", "))
	}
	return nil
}

// checkRelPath rejects paths that could escape the directory they are
// joined to: catalog entries decide where pull writes.
func checkRelPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.Contains(p, `\`):
		return fmt.Errorf("%q: use forward slashes", p)
	case path.IsAbs(p) || filepath.IsAbs(p):
		return fmt.Errorf("%q: must be relative", p)
	case path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%q: must be a clean path inside its directory", p)
	}
	return nil
}
