package stagerun

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// lockSchema is the version of the lock file layout.
const lockSchema = 1

// Lock is the content of datalab.lock: for every stage that last ran to
// success, what it ran on and what it produced. A stage is up to date when
// its current key equals the locked key and its outputs still hash to the
// locked values.
type Lock struct {
	Schema int                   `yaml:"schema"`
	Stages map[string]*LockStage `yaml:"stages"`
}

// LockStage is the lock entry of one stage.
type LockStage struct {
	// Key is the sha256 over the substituted command, dependency, code and
	// param values, and the declared outs.
	Key    string         `yaml:"key"`
	Cmd    string         `yaml:"cmd"`
	Deps   []LockPath     `yaml:"deps,omitempty"`
	Code   []LockPath     `yaml:"code,omitempty"`
	Params map[string]any `yaml:"params,omitempty"`
	Outs   []LockPath     `yaml:"outs,omitempty"`
	// The run that produced the outs, its attempts and errors are in its
	// run record (runs/<id>/run.json), not here: the lock is committed, and
	// a fresh clone that rebuilds identical outs must leave it unchanged.
	// Locks written before still read: their run/attempts/errors keys are
	// ignored and dropped at the next write.
}

// LockPath is a hashed file or directory.
type LockPath struct {
	Path   string `yaml:"path"`
	SHA256 string `yaml:"sha256"`
	Size   int64  `yaml:"size"`
}

// ReadLock reads a lock file; a missing file is an empty lock.
func ReadLock(path string) (*Lock, error) {
	l := &Lock{Schema: lockSchema, Stages: map[string]*LockStage{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock file: %w", err)
	}
	if err := yaml.Unmarshal(data, l); err != nil {
		return nil, fmt.Errorf("lock file %s: %w (delete it to rebuild every stage)", path, err)
	}
	if l.Schema != lockSchema {
		return nil, fmt.Errorf("lock file %s has schema %d, this datalab understands %d (delete it to rebuild every stage)", path, l.Schema, lockSchema)
	}
	if l.Stages == nil {
		l.Stages = map[string]*LockStage{}
	}
	return l, nil
}

// Write replaces the lock file atomically. Output is deterministic: YAML
// mappings are written with sorted keys and lists keep pipeline order.
func (l *Lock) Write(path string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		if _, err := io.WriteString(w, "# Written by `datalab run`: content hashes of each stage's last successful run. Commit it.\n"); err != nil {
			return err
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(l); err != nil {
			return err
		}
		return enc.Close()
	})
}
