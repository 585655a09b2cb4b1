package datasets

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Declaration is what `datalab data add` says about a file: the set it
// belongs to, and what to record for the set and for the file. Empty fields
// keep what the catalog already says.
type Declaration struct {
	// Set is the file's set; empty: the set directory the path is in (see
	// [Catalog.Locate]).
	Set string
	// Store is the object store directory; empty means DefaultStoreDir.
	Store string
	// URL is the origin download URL of these exact bytes; Mirror the
	// file's path relative to a mirror root.
	URL, Mirror string
	// License, Description and Origin describe the set: a new set gets
	// them; an existing set takes those given that differ.
	License, Description, Origin string
	// Format and Schema are a new set's defaults (Format guessed from the
	// file's extension by [FormatFromExt] when empty). For an existing set,
	// a value that differs from the set's becomes this one file's own
	// format or schema.
	Format, Schema string
}

// Declare declares the file at path — new or changed — in the catalog:
// it finds the file's set and path ([Catalog.Locate]), creates the set or
// updates its description as d says ([Catalog.PutSet]), then stores the
// file, writes its pointer and adds or updates its entry ([Catalog.Add]).
// The catalog is saved. It returns the set and the file as declared.
func (c *Catalog) Declare(path string, d Declaration) (*Set, *File, error) {
	setName, rel, err := c.Locate(path, d.Set)
	if err != nil {
		return nil, nil, err
	}
	var cur *SetInfo
	if s, err := c.Set(setName); err == nil {
		info := s.info()
		cur = &info
	}
	m, err := mergeDeclaration(cur, setName, rel, d)
	if err != nil {
		return nil, nil, err
	}
	if m.putSet {
		if _, err := c.PutSet(m.set); err != nil {
			return nil, nil, err
		}
	}
	f, err := c.Add(setName, rel, path, m.add)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.Set(setName)
	if err != nil {
		return nil, nil, err
	}
	return s, f, nil
}

// merged is what a Declaration changes: the set's description (written
// when putSet) and the options of the file's Add.
type merged struct {
	set    SetInfo
	putSet bool
	add    AddOptions
}

// mergeDeclaration applies d to the set cur (nil: the set does not exist
// yet) for the file rel. A new set needs a format: d.Format, else the one
// FormatFromExt guesses from rel.
func mergeDeclaration(cur *SetInfo, setName, rel string, d Declaration) (merged, error) {
	m := merged{add: AddOptions{Store: d.Store, URL: d.URL, Mirror: d.Mirror}}
	if cur == nil {
		format := d.Format
		if format == "" {
			format = FormatFromExt(rel)
		}
		if format == "" {
			return merged{}, fmt.Errorf("set %s does not exist yet: give its --format (%s)", setName, strings.Join(Formats, ", "))
		}
		m.set = SetInfo{Name: setName, Format: format, Schema: d.Schema, License: d.License, Description: d.Description, Origin: d.Origin}
		m.putSet = true
		return m, nil
	}
	m.set = *cur
	for _, u := range []struct {
		dst *string
		v   string
	}{
		{&m.set.License, d.License}, {&m.set.Description, d.Description}, {&m.set.Origin, d.Origin},
	} {
		if u.v != "" && *u.dst != u.v {
			*u.dst, m.putSet = u.v, true
		}
	}
	if d.Format != "" && d.Format != cur.Format {
		m.add.Format = d.Format
	}
	if d.Schema != "" && d.Schema != cur.Schema {
		m.add.Schema = d.Schema
	}
	return m, nil
}

// FormatFromExt guesses a file's format from its name: csv, jsonl (.jsonl,
// .ndjson) or parquet, in any letter case; "" when the extension says
// nothing (the format must then be given).
func FormatFromExt(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return "csv"
	case ".jsonl", ".ndjson":
		return "jsonl"
	case ".parquet":
		return "parquet"
	}
	return ""
}

// info is the descriptive part of the set.
func (s *Set) info() SetInfo {
	return SetInfo{Name: s.Name, Description: s.Description, License: s.License, Format: s.Format, Schema: s.Schema, Origin: s.Origin}
}
