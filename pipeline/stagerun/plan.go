package stagerun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// stageState is what a stage would run on now.
type stageState struct {
	cmd    string
	deps   []LockPath
	code   []LockPath
	params map[string]any
	key    string
}

// errMissingDep marks a dependency that does not exist yet.
var errMissingDep = errors.New("missing dependency")

// state hashes the stage's inputs and computes its key.
func (p *Pipeline) state(s *Stage, h *hasher) (stageState, error) {
	st := stageState{cmd: p.Command(s), params: map[string]any{}}
	hashAll := func(paths []string, what string) ([]LockPath, error) {
		var out []LockPath
		for _, rel := range paths {
			d, err := h.hash(rel)
			if errors.Is(err, fs.ErrNotExist) {
				if ptr, ok := declaredPointer(p.Root, rel); ok {
					return nil, fmt.Errorf("stage %s: %s %s is declared (%s) but not materialised; run `datalab data pull`: %w", s.Name, what, rel, ptr, errMissingDep)
				}
				return nil, fmt.Errorf("stage %s: %s %s does not exist: %w", s.Name, what, rel, errMissingDep)
			}
			if err != nil {
				return nil, fmt.Errorf("stage %s: %w", s.Name, err)
			}
			out = append(out, LockPath{Path: rel, SHA256: d.SHA256, Size: d.Size})
		}
		return out, nil
	}
	var err error
	if st.deps, err = hashAll(s.Deps, "dependency"); err != nil {
		return st, err
	}
	if st.code, err = hashAll(s.Code, "code path"); err != nil {
		return st, err
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "cmd %q\n", st.cmd)
	for _, d := range st.deps {
		fmt.Fprintf(sum, "dep %q %s\n", d.Path, d.SHA256)
	}
	for _, c := range st.code {
		fmt.Fprintf(sum, "code %q %s\n", c.Path, c.SHA256)
	}
	keys := slices.Sorted(slices.Values(s.Params))
	for _, k := range keys {
		v, _ := p.Param(k)
		st.params[k] = v
		fmt.Fprintf(sum, "param %q %s\n", k, canonical(v))
	}
	for _, o := range s.Outs {
		fmt.Fprintf(sum, "out %q\n", o)
	}
	st.key = hex.EncodeToString(sum.Sum(nil))
	return st, nil
}

// reasons explains why the stage must run given its last lock entry; none
// means it is up to date.
func (p *Pipeline) reasons(s *Stage, st stageState, prev *LockStage, h *hasher) []string {
	if prev == nil {
		return []string{"new"}
	}
	if prev.Key == st.key {
		var why []string
		locked := map[string]string{}
		for _, o := range prev.Outs {
			locked[o.Path] = o.SHA256
		}
		for _, o := range s.Outs {
			d, err := h.hash(o)
			switch {
			case err != nil:
				why = append(why, "outs missing: "+o)
			case d.SHA256 != locked[o]:
				why = append(why, "outs changed since last run: "+o)
			}
		}
		return why
	}
	var why []string
	if prev.Cmd != st.cmd {
		// With the locked param values the command may be what was run: then
		// only a param changed, which is reported below.
		old := p.commandWith(s, func(key string) any {
			if v, ok := prev.Params[key]; ok {
				return v
			}
			v, _ := p.Param(key)
			return v
		})
		if old != prev.Cmd {
			why = append(why, "command changed")
		}
	}
	if d := changedPaths(prev.Deps, st.deps); d != "" {
		why = append(why, "deps changed: "+d)
	}
	if d := changedPaths(prev.Code, st.code); d != "" {
		why = append(why, "code changed: "+d)
	}
	keys := slices.Sorted(slices.Values(s.Params))
	for k := range prev.Params {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		old, had := prev.Params[k]
		cur, has := st.params[k]
		switch {
		case !had:
			why = append(why, "param "+k+" added")
		case !has:
			why = append(why, "param "+k+" removed")
		case canonical(old) != canonical(cur):
			why = append(why, "param "+k+" changed")
		}
	}
	var prevOuts []string
	for _, o := range prev.Outs {
		prevOuts = append(prevOuts, o.Path)
	}
	if !slices.Equal(prevOuts, s.Outs) {
		why = append(why, "declared outs changed")
	}
	if len(why) == 0 {
		why = append(why, "stage definition changed")
	}
	return why
}

// changedPaths lists paths added, removed or with a different hash.
func changedPaths(old, cur []LockPath) string {
	was := map[string]string{}
	for _, o := range old {
		was[o.Path] = o.SHA256
	}
	var changed []string
	for _, c := range cur {
		if sha, ok := was[c.Path]; !ok || sha != c.SHA256 {
			changed = append(changed, c.Path)
		}
		delete(was, c.Path)
	}
	for _, o := range old {
		if _, gone := was[o.Path]; gone {
			changed = append(changed, o.Path+" (removed)")
		}
	}
	return strings.Join(changed, ", ")
}

// Plan is what a run would do.
type Plan struct {
	Stages []PlannedStage
}

// PlannedStage is one stage of a plan.
type PlannedStage struct {
	Name string
	// Run is whether the stage would run; Reasons say why ("new",
	// "deps changed: data/x.csv", "param train.num_trees changed", "outs
	// missing: …", "code changed: …", "forced", "upstream ingest will run").
	Run     bool
	Reasons []string
	// Cached is whether the run cache holds the outs for the stage's key:
	// the run restores them instead of running the command.
	Cached bool
}

// String renders the plan one stage a line, as `datalab run --dry-run`
// prints it.
func (pl *Plan) String() string {
	var b strings.Builder
	for _, s := range pl.Stages {
		if s.Cached {
			fmt.Fprintf(&b, "cache %s: restore from the run cache (%s)\n", s.Name, strings.Join(s.Reasons, "; "))
		} else if s.Run {
			fmt.Fprintf(&b, "run   %s: %s\n", s.Name, strings.Join(s.Reasons, "; "))
		} else {
			fmt.Fprintf(&b, "skip  %s: up to date\n", s.Name)
		}
	}
	return b.String()
}

// Plan reports which of the stages needed for targets (all stages when
// empty) would run and why, without running anything. A stage downstream of
// one that would run is listed as running; at run time it is skipped if the
// upstream stage reproduces identical outputs.
func (p *Pipeline) Plan(ctx context.Context, targets []string, opts Options) (*Plan, error) {
	sel, err := p.Select(targets)
	if err != nil {
		return nil, err
	}
	lock, err := ReadLock(p.LockPath())
	if err != nil {
		return nil, err
	}
	h := newHasher(p.Root)
	defer h.save()
	running, cached := map[string]bool{}, map[string]bool{}
	pl := &Plan{}
	for _, s := range sel {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ps := PlannedStage{Name: s.Name}
		var upstreamRuns []string
		for _, u := range s.Upstream {
			if running[u] {
				upstreamRuns = append(upstreamRuns, u)
			}
		}
		st, err := p.state(s, h)
		switch {
		case errors.Is(err, errMissingDep) && len(upstreamRuns) > 0:
			// The upstream stage will create it.
		case err != nil:
			return nil, err
		case opts.Force:
			ps.Reasons = append(ps.Reasons, "forced")
		default:
			ps.Reasons = append(ps.Reasons, p.reasons(s, st, lock.Stages[s.Name], h)...)
		}
		ps.Cached = err == nil && len(ps.Reasons) > 0 && len(upstreamRuns) == 0 && !opts.Force && opts.Cache != nil && opts.Cache.Has(st.key)
		for _, u := range upstreamRuns {
			if cached[u] {
				ps.Reasons = append(ps.Reasons, "upstream "+u+" will be restored from the run cache")
			} else {
				ps.Reasons = append(ps.Reasons, "upstream "+u+" will run")
			}
		}
		ps.Run = len(ps.Reasons) > 0
		running[s.Name] = ps.Run
		cached[s.Name] = ps.Cached
		pl.Stages = append(pl.Stages, ps)
	}
	return pl, nil
}

// declaredPointer returns the git-LFS pointer that declares data file rel
// (data/<set>/<path> is declared by data/pointers/<set>/<path>.pointer, the
// layout of package datasets), if it exists.
func declaredPointer(root, rel string) (string, bool) {
	rest, ok := strings.CutPrefix(rel, "data/")
	if !ok {
		return "", false
	}
	ptr := "data/pointers/" + rest + ".pointer"
	_, err := os.Stat(filepath.Join(root, filepath.FromSlash(ptr)))
	return ptr, err == nil
}
