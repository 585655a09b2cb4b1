package experiment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Applied says what Apply changed in the workspace.
type Applied struct {
	// Stages are the stages whose lock entry and outs now come from the
	// experiment.
	Stages []string
	// Outs are the outs replaced in the workspace.
	Outs []string
	// Overrides are the parameters written into the pipeline file.
	Overrides map[string]any
}

// applyHook, when set (tests), is called before each swap step with its
// number; an error makes the step fail.
var applyHook func(step int) error

// Apply makes a done experiment's parameters and outputs the workspace's:
// the outs of every stage whose lock entry differs are linked from the
// experiment's build/ (whose files are the shared cache's objects), its
// lock entries go into the workspace's lock and its overrides into the
// pipeline file (stagerun.SaveOverrides, comments kept). Everything is
// prepared first under .datalab/apply-*; then the outs, the lock and the
// pipeline file are renamed into place one by one, and if a step fails the
// ones done are renamed back, so the workspace is as it was. Afterwards a
// `datalab run` of the experiment's targets has nothing to do.
func (l *Lab) Apply(name string) (*Applied, error) {
	rec, err := l.Record(name)
	if err != nil {
		return nil, err
	}
	if rec.Status != StatusDone {
		return nil, fmt.Errorf("experiment %s is %s, not done: only a finished experiment can be applied (its log: %s)", name, rec.Status, filepath.Join(l.Dir(name), LogFile))
	}
	ws := l.Dir(name)
	expLock, err := stagerun.ReadLock(lockPathIn(ws, l.Pipeline))
	if err != nil {
		return nil, err
	}
	mainLock, err := stagerun.ReadLock(l.LockPath())
	if err != nil {
		return nil, err
	}
	p, err := stagerun.Load(l.PipelinePath())
	if err != nil {
		return nil, err
	}
	if err := p.Override(rec.Overrides); err != nil {
		return nil, fmt.Errorf("experiment %s no longer fits %s: %w", name, l.Pipeline, err)
	}
	stage, err := os.MkdirTemp(filepath.Join(l.Root, ".datalab"), "apply-*")
	if err != nil {
		return nil, fmt.Errorf("prepare apply: %w", err)
	}
	keepStage := false
	defer func() {
		if !keepStage {
			removeAll(stage)
		}
	}()

	// Prepare: every replaced out linked under stage/new/, the new lock
	// and the new pipeline file beside them.
	res := &Applied{Overrides: rec.Overrides}
	var steps []swap
	for _, s := range p.Stages {
		e := expLock.Stages[s.Name]
		if e == nil || sameEntry(e, mainLock.Stages[s.Name]) {
			continue
		}
		for _, o := range e.Outs {
			src := filepath.Join(ws, filepath.FromSlash(o.Path))
			staged := filepath.Join(stage, "new", filepath.FromSlash(o.Path))
			if err := linkTree(src, staged); err != nil {
				return nil, fmt.Errorf("experiment %s: out %s of stage %s: %w (run the experiment again with --force)", name, o.Path, s.Name, err)
			}
			if size, err := treeSize(staged); err != nil || size != o.Size {
				return nil, fmt.Errorf("experiment %s: out %s of stage %s is %d bytes, its lock says %d: the workspace was changed after the run (run the experiment again with --force)", name, o.Path, s.Name, size, o.Size)
			}
			steps = append(steps, swap{staged: staged, target: filepath.Join(l.Root, filepath.FromSlash(o.Path))})
			res.Outs = append(res.Outs, o.Path)
		}
		mainLock.Stages[s.Name] = e
		res.Stages = append(res.Stages, s.Name)
	}
	lockName := filepath.Base(l.LockPath())
	if err := mainLock.Write(filepath.Join(stage, lockName)); err != nil {
		return nil, err
	}
	steps = append(steps, swap{staged: filepath.Join(stage, lockName), target: l.LockPath()})
	if len(rec.Overrides) > 0 {
		newPipeline := filepath.Join(stage, l.Pipeline)
		if err := copyFile(l.PipelinePath(), newPipeline); err != nil {
			return nil, err
		}
		if err := stagerun.SaveOverrides(newPipeline, rec.Overrides); err != nil {
			return nil, err
		}
		steps = append(steps, swap{staged: newPipeline, target: l.PipelinePath()})
	}

	// Swap: each target moved aside to stage/old/<n>, the new one renamed
	// in; on failure, undone in reverse order.
	var done []swap
	for i, s := range steps {
		s.old = filepath.Join(stage, "old", fmt.Sprint(i))
		err := s.do(i)
		if err != nil {
			var undoErrs []error
			for _, d := range slices.Backward(done) {
				if uerr := d.undo(); uerr != nil {
					undoErrs = append(undoErrs, uerr)
				}
			}
			if len(undoErrs) > 0 {
				keepStage = true
				return nil, fmt.Errorf("apply %s failed at %s: %w; putting the workspace back failed too: %w (the old files are under %s)", name, s.target, err, errors.Join(undoErrs...), stage)
			}
			return nil, fmt.Errorf("apply %s failed at %s: %w (the workspace is unchanged)", name, s.target, err)
		}
		done = append(done, s)
	}
	return res, nil
}

// swap replaces target with staged; old keeps the previous target.
type swap struct {
	staged, target, old string
	hadOld              bool
}

func (s *swap) do(step int) error {
	if applyHook != nil {
		if err := applyHook(step); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(s.old), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.target), 0o755); err != nil {
		return err
	}
	if err := os.Rename(s.target, s.old); err == nil {
		s.hadOld = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(s.staged, s.target); err != nil {
		if s.hadOld {
			os.Rename(s.old, s.target)
		}
		return err
	}
	return nil
}

func (s swap) undo() error {
	if err := os.Rename(s.target, s.staged); err != nil {
		return err
	}
	if s.hadOld {
		return os.Rename(s.old, s.target)
	}
	return nil
}

// sameEntry reports whether two lock entries describe the same run: same
// key and same outs.
func sameEntry(a, b *stagerun.LockStage) bool {
	return b != nil && a.Key == b.Key && slices.Equal(a.Outs, b.Outs)
}

// linkTree recreates the file or directory src at dst with hard links.
func linkTree(src, dst string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if !info.IsDir() {
		return os.Link(src, dst)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	return mirror(src, dst, nil, nil)
}

// treeSize is the total size of the regular files at path, as a lock
// records it.
func treeSize(path string) (int64, error) {
	var total int64
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := os.Stat(p)
		if err == nil && info.Mode().IsRegular() {
			total += info.Size()
		}
		return err
	})
	return total, err
}
