package stagerun

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// hashState remembers the sha256 of files by their stat facts (size,
// mtime, ctime, inode, like DVC's state database and git's index), so an
// unchanged multi-gigabyte dependency is not read again on every run. It
// lives in <root>/.datalab/hashes. Any write to a file changes its ctime,
// which the file's owner cannot set back: a rewritten file with the same
// size and an old mtime is still hashed again.
type hashState struct {
	path    string
	entries map[string]stateEntry
	dirty   bool
}

type stateEntry struct {
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	CtimeNs int64  `json:"ctime_ns"`
	Ino     uint64 `json:"ino"`
	SHA256  string `json:"sha256"`
}

// racyWindow: a file changed this recently is not remembered, because a
// second write within the file system's timestamp granularity would leave
// the same stat facts (git's "racily clean" entries).
var racyWindow = 2 * time.Second

// stateFile is where a root keeps its hash state.
func stateFile(root string) string { return filepath.Join(root, ".datalab", "hashes") }

// loadHashState reads the state; a missing or unreadable file is an empty
// state (it is only a cache).
func loadHashState(path string) *hashState {
	s := &hashState{path: path, entries: map[string]stateEntry{}}
	if data, err := os.ReadFile(path); err == nil {
		if json.Unmarshal(data, &s.entries) != nil {
			s.entries = map[string]stateEntry{}
		}
	}
	return s
}

func statFacts(info fs.FileInfo) stateEntry {
	e := stateEntry{Size: info.Size(), MtimeNs: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		e.Ino = uint64(st.Ino)
		e.CtimeNs = st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	return e
}

// lookup returns the remembered sha256 of abs if its stat facts match.
func (s *hashState) lookup(abs string, info fs.FileInfo) (string, bool) {
	e, ok := s.entries[abs]
	if !ok {
		return "", false
	}
	f := statFacts(info)
	if f.CtimeNs == 0 || e.Size != f.Size || e.MtimeNs != f.MtimeNs || e.CtimeNs != f.CtimeNs || e.Ino != f.Ino {
		return "", false
	}
	return e.SHA256, true
}

// remember records abs's sha256 unless the file changed too recently.
func (s *hashState) remember(abs string, info fs.FileInfo, sum string) {
	f := statFacts(info)
	now := time.Now().UnixNano()
	if f.CtimeNs == 0 || now-f.CtimeNs < int64(racyWindow) || now-f.MtimeNs < int64(racyWindow) {
		delete(s.entries, abs)
		return
	}
	f.SHA256 = sum
	if s.entries[abs] != f {
		s.entries[abs] = f
		s.dirty = true
	}
}

// save writes the state if it changed, dropping files that are gone.
func (s *hashState) save() error {
	if !s.dirty {
		return nil
	}
	for p := range s.entries {
		if _, err := os.Lstat(p); err != nil {
			delete(s.entries, p)
		}
	}
	data, err := json.Marshal(s.entries)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path, data); err != nil {
		return err
	}
	s.dirty = false
	return nil
}
