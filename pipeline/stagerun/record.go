package stagerun

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/format/index"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/lfspointer"
)

// Stage outcomes in a run record.
const (
	StatusRan     = "ran"     // ran to success (possibly after retries)
	StatusSkipped = "skipped" // up to date
	StatusCached  = "cached"  // outs restored from the run cache instead of running
	StatusFailed  = "failed"  // every attempt failed, or it could not start
	StatusNotRun  = "not-run" // an earlier stage failed or the run was cancelled
)

// RunRecord is runs/<run-id>/run.json: everything needed to say what a run
// did and to reproduce it.
type RunRecord struct {
	ID             string    `json:"id"`
	Pipeline       string    `json:"pipeline"`
	Targets        []string  `json:"targets,omitempty"`
	Force          bool      `json:"force,omitempty"`
	Status         string    `json:"status"` // ok, failed or cancelled
	Error          string    `json:"error,omitempty"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	DurationSec    float64   `json:"duration_sec"`
	Git            GitState  `json:"git"`
	GoVersion      string    `json:"go_version"`
	DatalabVersion string    `json:"datalab_version"`
	// Remote is the object storage the run fetched from and pushed to
	// (datalab run --remote), if any.
	Remote string `json:"remote,omitempty"`
	// Datasets maps every dependency under data/ to its sha256 (the git-LFS
	// oid for LFS-tracked files).
	Datasets map[string]string `json:"datasets"`
	// Params are all pipeline parameters by dotted key, with Overrides
	// applied.
	Params map[string]any `json:"params"`
	// Overrides are the parameters given on the command line (datalab run
	// --set, datalab exp run) by dotted key, with their values; they are
	// already in Params.
	Overrides map[string]any `json:"overrides,omitempty"`
	// Experiment names the experiment this run belongs to (datalab exp run),
	// empty for a run in the workspace itself.
	Experiment string `json:"experiment,omitempty"`
	// Metrics are the numeric leaves of the pipeline's metrics files
	// (metrics: in datalab.yaml) after the run, by dotted key
	// "<name>.<json path>", e.g. "matches.holdout.accuracy".
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Stages  []StageRecord      `json:"stages"`
}

// GitState is the commit the run started from.
type GitState struct {
	Commit string `json:"commit,omitempty"`
	Branch string `json:"branch,omitempty"`
	// Dirty is true when tracked files differ from the commit (untracked
	// files do not count, as with `git describe --dirty`).
	Dirty bool `json:"dirty"`
	// Error says why the commit is unknown (e.g. not a git repository).
	Error string `json:"error,omitempty"`
}

// StageRecord is one stage's outcome in a run.
type StageRecord struct {
	Name        string     `json:"name"`
	Status      string     `json:"status"`
	Reasons     []string   `json:"reasons,omitempty"`
	Key         string     `json:"key,omitempty"`
	Attempts    []Attempt  `json:"attempts,omitempty"`
	Errors      []string   `json:"errors,omitempty"`
	Outs        []LockPath `json:"outs,omitempty"`
	Log         string     `json:"log,omitempty"`
	Start       time.Time  `json:"start"`
	End         time.Time  `json:"end"`
	DurationSec float64    `json:"duration_sec"`
	// Fetched lists the deps and outs copied from the remote instead of
	// being found locally or produced.
	Fetched []string `json:"fetched,omitempty"`
}

// Attempt is one execution of a stage's command.
type Attempt struct {
	N           int       `json:"n"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	DurationSec float64   `json:"duration_sec"`
	Error       string    `json:"error,omitempty"`
}

// Stage returns the record of the named stage, or nil.
func (r *RunRecord) Stage(name string) *StageRecord {
	for i := range r.Stages {
		if r.Stages[i].Name == name {
			return &r.Stages[i]
		}
	}
	return nil
}

// Ran lists the stages that ran in this run.
func (r *RunRecord) Ran() []string {
	var names []string
	for _, s := range r.Stages {
		if s.Status == StatusRan {
			names = append(names, s.Name)
		}
	}
	return names
}

// write stores the record as indented JSON, atomically.
func (r *RunRecord) write(path string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	})
}

// NewRunID returns an id that sorts by start time: 20261123T121400Z-1a2b3c.
func NewRunID(now time.Time) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// lfsMaterialised reports whether a file go-git sees as modified is a git-LFS
// file whose committed pointer names exactly the worktree content: go-git
// does not run the LFS clean filter, so without this check every checked-out
// data set would make the tree look dirty.
func lfsMaterialised(repo *git.Repository, idx *index.Index, root, name string) bool {
	e, err := idx.Entry(name)
	if err != nil || e.Size >= lfsPointerMax {
		return false
	}
	blob, err := repo.BlobObject(e.Hash)
	if err != nil {
		return false
	}
	r, err := blob.Reader()
	if err != nil {
		return false
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, lfsPointerMax))
	if err != nil {
		return false
	}
	p, err := lfspointer.Decode(data)
	if err != nil {
		return false
	}
	d, err := hashFile(filepath.Join(root, filepath.FromSlash(name)))
	return err == nil && d.SHA256 == p.Oid
}

// GitStateOf describes the repository containing dir: commit, branch and
// whether tracked files differ (a materialised git-LFS file whose content
// matches its committed pointer is clean). A directory outside any
// repository gives a state with Error set rather than an error, so run
// records and report lineage are written either way.
//
// It asks the git command when there is one: `git status` uses the index's
// stat cache and reads only tracked files, while go-git's status walks the
// whole working tree, build/ and data sets included (seconds on this
// repository, most of a `datalab run` with nothing to do). go-git is the
// fallback without git, or when git cannot answer.
func GitStateOf(dir string) GitState {
	if gs, ok := gitStateCLI(dir); ok {
		return gs
	}
	return gitStateGoGit(dir)
}

// gitStateCLI is GitStateOf through the git command; ok is false when git
// is missing or failed (not a repository, no commit yet: go-git then says
// which).
func gitStateCLI(dir string) (GitState, bool) {
	bin, err := exec.LookPath("git")
	if err != nil {
		return GitState{}, false
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"--no-optional-locks", "-C", dir}, args...)...)
		cmd.Stderr = nil
		out, err := cmd.Output()
		return string(out), err
	}
	commit, err := run("rev-parse", "--verify", "-q", "HEAD")
	if err != nil {
		return GitState{}, false
	}
	gs := GitState{Commit: strings.TrimSpace(commit)}
	if branch, err := run("symbolic-ref", "--short", "-q", "HEAD"); err == nil {
		gs.Branch = strings.TrimSpace(branch)
	}
	status, err := run("status", "--porcelain=v1", "-z", "--untracked-files=no")
	if err != nil {
		return GitState{}, false
	}
	top, err := run("rev-parse", "--show-toplevel")
	if err != nil {
		return GitState{}, false
	}
	var modified []string
	fields := strings.Split(status, "\x00")
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if len(f) < 4 {
			continue
		}
		xy, name := f[:2], f[3:]
		if xy[0] == 'R' || xy[0] == 'C' {
			i++ // the original path follows
		}
		if xy != " M" {
			gs.Dirty = true
			return gs, true
		}
		modified = append(modified, name)
	}
	if len(modified) == 0 {
		return gs, true
	}
	// Only worktree modifications: clean if each is a materialised LFS file.
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return GitState{}, false
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		return GitState{}, false
	}
	root := strings.TrimSpace(top)
	for _, name := range modified {
		if !lfsMaterialised(repo, idx, root, name) {
			gs.Dirty = true
			break
		}
	}
	return gs, true
}

// gitStateGoGit is GitStateOf through go-git.
func gitStateGoGit(dir string) GitState {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return GitState{Error: "not a git repository"}
	}
	if err != nil {
		return GitState{Error: fmt.Sprintf("open git repository: %v", err)}
	}
	head, err := repo.Head()
	if err != nil {
		return GitState{Error: fmt.Sprintf("read HEAD: %v (no commit yet?)", err)}
	}
	gs := GitState{Commit: head.Hash().String()}
	if head.Name().IsBranch() {
		gs.Branch = head.Name().Short()
	}
	wt, err := repo.Worktree()
	if err != nil {
		gs.Error = fmt.Sprintf("open worktree: %v", err)
		return gs
	}
	status, err := wt.Status()
	if err != nil {
		gs.Error = fmt.Sprintf("git status: %v", err)
		return gs
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		gs.Error = fmt.Sprintf("read git index: %v", err)
		return gs
	}
	root := wt.Filesystem.Root()
	for name, fs := range status {
		if fs.Worktree == git.Untracked || (fs.Worktree == git.Unmodified && fs.Staging == git.Unmodified) {
			continue
		}
		if fs.Staging == git.Unmodified && fs.Worktree == git.Modified && lfsMaterialised(repo, idx, root, name) {
			continue
		}
		gs.Dirty = true
		break
	}
	return gs
}

// PointerOids maps each git-LFS pointer file (data/pointers/<set>/<file>.pointer)
// to the oid it declares, keyed by "<set>/<file>", for lineage. Every path
// must be a readable pointer: lineage must not claim data it cannot show.
func PointerOids(pointers []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pointers {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("lineage: %w", err)
		}
		ptr, err := lfspointer.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("lineage: %s: %w", p, err)
		}
		key := filepath.ToSlash(p)
		if i := strings.Index(key, "pointers/"); i >= 0 {
			key = key[i+len("pointers/"):]
		}
		out[strings.TrimSuffix(key, ".pointer")] = "sha256:" + ptr.Oid
	}
	return out, nil
}
