package datasets

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// State is whether a working file matches its pointer.
type State string

// File and set states reported by [Catalog.Status].
const (
	StatePresent  State = "present"  // working file matches its pointer
	StateMissing  State = "missing"  // no working file: run `datalab data pull`
	StateModified State = "modified" // working file differs from its pointer
)

// StatusOptions configure [Catalog.Status].
type StatusOptions struct {
	// Store is the object store directory; empty means DefaultStoreDir.
	Store string
}

// FileStatus is the state of one declared file.
type FileStatus struct {
	Path        string `json:"path"`
	WorkingPath string `json:"working_path"`
	Oid         string `json:"oid"`
	Size        int64  `json:"size"`
	State       State  `json:"state"`
	// InStore is true when the object store holds the declared content, so
	// that a pull needs no mirror or network.
	InStore bool `json:"in_store"`
	// Actual is the working file's hash and size when State is modified
	// (the oid is empty when the size alone showed the difference).
	Actual *Pointer `json:"actual,omitempty"`
}

// SetStatus summarises one set.
type SetStatus struct {
	Name     string       `json:"name"`
	Files    int          `json:"files"`
	Bytes    int64        `json:"bytes"`
	State    State        `json:"state"`
	Present  int          `json:"present"`
	Missing  int          `json:"missing"`
	Modified int          `json:"modified"`
	Details  []FileStatus `json:"details"`
}

// Summary is the set's state with counts, e.g. "present", "missing 2/9" or
// "modified 1/9, missing 2/9".
func (s SetStatus) Summary() string {
	var parts []string
	if s.Modified > 0 {
		parts = append(parts, fmt.Sprintf("modified %d/%d", s.Modified, s.Files))
	}
	if s.Missing > 0 {
		parts = append(parts, fmt.Sprintf("missing %d/%d", s.Missing, s.Files))
	}
	if len(parts) == 0 {
		return string(StatePresent)
	}
	return strings.Join(parts, ", ")
}

// Status checks the working files of the named sets (all when names is
// empty) against their pointers, hashing every file whose size matches.
func (c *Catalog) Status(ctx context.Context, names []string, opts StatusOptions) ([]SetStatus, error) {
	sets, err := c.selectSets(names)
	if err != nil {
		return nil, err
	}
	store := c.store(opts.Store)
	out := make([]SetStatus, 0, len(sets))
	for _, s := range sets {
		ss := SetStatus{Name: s.Name, Files: len(s.Files), Bytes: s.Bytes(), Details: []FileStatus{}}
		for _, f := range s.Files {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fs, err := fileStatus(s, f, store)
			if err != nil {
				return nil, err
			}
			switch fs.State {
			case StatePresent:
				ss.Present++
			case StateMissing:
				ss.Missing++
			case StateModified:
				ss.Modified++
			}
			ss.Details = append(ss.Details, fs)
		}
		switch {
		case ss.Modified > 0:
			ss.State = StateModified
		case ss.Missing > 0:
			ss.State = StateMissing
		default:
			ss.State = StatePresent
		}
		out = append(out, ss)
	}
	return out, nil
}

func fileStatus(s *Set, f *File, store Store) (FileStatus, error) {
	wp := s.WorkingPath(f)
	fs := FileStatus{Path: f.Path, WorkingPath: wp, Oid: f.Oid, Size: f.Size, InStore: f.Size == 0 || store.Has(f.Pointer)}
	st, err := os.Stat(wp)
	switch {
	case os.IsNotExist(err):
		fs.State = StateMissing
		return fs, nil
	case err != nil:
		return fs, fmt.Errorf("status of %s: %w", wp, err)
	case !st.Mode().IsRegular():
		fs.State = StateModified
		fs.Actual = &Pointer{Size: -1}
		return fs, nil
	case st.Size() != f.Size:
		fs.State = StateModified
		fs.Actual = &Pointer{Size: st.Size()}
		return fs, nil
	}
	got, err := HashFile(wp)
	if err != nil {
		return fs, err
	}
	if got != f.Pointer {
		fs.State = StateModified
		fs.Actual = &got
		return fs, nil
	}
	fs.State = StatePresent
	return fs, nil
}
