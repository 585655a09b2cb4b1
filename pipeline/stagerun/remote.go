package stagerun

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Remote is object storage beside the working tree (`datalab run
// --remote`). Stages still read and write local files; the runner copies
// around them:
//
//   - before a stage runs, a dependency missing locally is fetched;
//   - a stage that is up to date by its key but whose outs are missing
//     locally fetches them instead of running (they must then hash to the
//     lock's values, or the stage runs after all);
//   - after a stage succeeds or is skipped, its outs and the materialised
//     data files behind its git-LFS pointer dependencies are pushed;
//   - at the end the run directory (run.json, stage logs) is pushed.
//
// Package objstore/layout implements it over a bucket; stagerun only names
// paths, so it needs no storage client. Paths are slash-separated and
// relative to the pipeline root.
type Remote interface {
	// String names the remote in logs and run records (its URL).
	String() string
	// Fetch copies the file or directory at path from the remote into the
	// root, verified. found is false, with a nil error, when the remote
	// does not hold it.
	Fetch(ctx context.Context, path string) (found bool, err error)
	// Push uploads the file or directory at path; content the remote
	// already holds is not sent again.
	Push(ctx context.Context, path string) error
	// PushRun uploads the directory of a finished run.
	PushRun(ctx context.Context, dir, id string) error
}

// ErrRemote is wrapped by Run's error when fetching from or pushing to the
// remote failed.
var ErrRemote = errors.New("remote storage failed")

// pushRunTimeout bounds the upload of the run record, which also happens
// after the run was cancelled.
const pushRunTimeout = 2 * time.Minute

func (r *runner) missing(rel string) bool {
	_, err := os.Stat(filepath.Join(r.p.Root, filepath.FromSlash(rel)))
	return errors.Is(err, fs.ErrNotExist)
}

// fetchMissing fetches those of the stage's paths (deps or outs, named by
// what in errors) that are missing locally; paths that exist are left
// alone, since a locally changed out is the user's to keep. A data file
// declared by a git-LFS pointer must hash to the pointer's oid.
func (r *runner) fetchMissing(ctx context.Context, s *Stage, paths []string, what string) ([]string, error) {
	var fetched []string
	for _, p := range paths {
		if !r.missing(p) {
			continue
		}
		found, err := r.opts.Remote.Fetch(ctx, p)
		if err != nil {
			return fetched, fmt.Errorf("%w: stage %s: fetch %s %s from %s: %w", ErrRemote, s.Name, what, p, r.opts.Remote, err)
		}
		if !found {
			continue
		}
		if ptr, ok := declaredPointer(r.p.Root, p); ok {
			if err := r.matchesPointer(p, ptr); err != nil {
				os.RemoveAll(filepath.Join(r.p.Root, filepath.FromSlash(p)))
				return fetched, fmt.Errorf("%w: stage %s: %w", ErrRemote, s.Name, err)
			}
		}
		r.log.Info("fetched from remote", "stage", s.Name, what, p)
		fetched = append(fetched, p)
	}
	return fetched, nil
}

// matchesPointer checks that data file rel has the content its pointer
// declares (a pointer hashes to its oid).
func (r *runner) matchesPointer(rel, ptr string) error {
	want, err := r.h.hash(ptr)
	if err != nil {
		return err
	}
	got, err := r.h.hash(rel)
	if err != nil {
		return err
	}
	if got.SHA256 != want.SHA256 {
		return fmt.Errorf("%s has sha256 %s, but %s declares %s", rel, got.SHA256, ptr, want.SHA256)
	}
	return nil
}

// pushStage uploads the stage's outs (except those just fetched) and the
// materialised data files behind its pointer dependencies — the data the
// stage actually read, when it matches what the pointer declares.
func (r *runner) pushStage(ctx context.Context, s *Stage, st stageState, sr *StageRecord) error {
	var paths []string
	for _, d := range st.deps {
		data, ptr, ok := dataBehind(r.p.Root, d.Path)
		if !ok || r.missing(data) {
			continue
		}
		if err := r.matchesPointer(data, ptr); err != nil {
			r.log.Warn("not pushing a data file that differs from its pointer", "stage", s.Name, "err", err)
			continue
		}
		paths = append(paths, data)
	}
	for _, o := range s.Outs {
		if !slices.Contains(sr.Fetched, o) {
			paths = append(paths, o)
		}
	}
	for _, p := range paths {
		if err := r.opts.Remote.Push(ctx, p); err != nil {
			err = fmt.Errorf("stage %s: push %s to %s: %w", s.Name, p, r.opts.Remote, err)
			sr.Errors = append(sr.Errors, err.Error())
			return fmt.Errorf("%w: %w", ErrRemote, err)
		}
	}
	return nil
}

// dataBehind maps a dependency to the data file and pointer of a declared
// data set: data/pointers/<set>/<f>.pointer → data/<set>/<f>, and
// data/<set>/<f> to itself when its pointer exists.
func dataBehind(root, dep string) (data, ptr string, ok bool) {
	if rest, isPtr := strings.CutPrefix(dep, "data/pointers/"); isPtr {
		if name, found := strings.CutSuffix(rest, ".pointer"); found {
			return "data/" + name, dep, true
		}
		return "", "", false
	}
	ptr, ok = declaredPointer(root, dep)
	return dep, ptr, ok
}

// pushRun uploads the run directory, also after a cancelled run.
func (r *runner) pushRun(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushRunTimeout)
	defer cancel()
	if err := r.opts.Remote.PushRun(ctx, r.runDir, r.rec.ID); err != nil {
		return fmt.Errorf("%w: push run %s to %s: %w", ErrRemote, r.rec.ID, r.opts.Remote, err)
	}
	return nil
}
