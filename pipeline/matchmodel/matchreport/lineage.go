package matchreport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// DataOids maps each data pointer file (data/pointers/<set>/<file>.pointer)
// to the sha256 oid it declares, keyed by "<set>/<file>". Every pointer must
// parse: a report must not claim lineage it cannot show.
func DataOids(pointers []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pointers {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("lineage: %w", err)
		}
		oid, _, ok := stagerun.ParseLFSPointer(b)
		if !ok {
			return nil, fmt.Errorf("lineage: %s is not a git-LFS pointer", p)
		}
		key := filepath.ToSlash(p)
		if i := strings.Index(key, "pointers/"); i >= 0 {
			key = key[i+len("pointers/"):]
		}
		out[strings.TrimSuffix(key, ".pointer")] = "sha256:" + oid
	}
	return out, nil
}

// GitCommit returns the commit checked out in the repository containing
// dir and whether tracked files differ from it (untracked files do not
// count, as in `git describe --dirty`). Outside a repository it returns an
// error saying so.
func GitCommit(dir string) (commit string, dirty bool, err error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return "", false, errors.New("not a git repository")
	}
	if err != nil {
		return "", false, err
	}
	head, err := repo.Head()
	if err != nil {
		return "", false, fmt.Errorf("read HEAD: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return head.Hash().String(), false, err
	}
	st, err := wt.Status()
	if err != nil {
		return head.Hash().String(), false, err
	}
	for _, fs := range st {
		if fs.Worktree == git.Untracked {
			continue
		}
		if fs.Worktree != git.Unmodified || fs.Staging != git.Unmodified {
			dirty = true
			break
		}
	}
	return head.Hash().String(), dirty, nil
}

// MatchParams returns the params.matches leaves of a pipeline, by dotted key.
func MatchParams(p *stagerun.Pipeline) map[string]any {
	out := map[string]any{}
	flat := p.FlatParams()
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "matches.") {
			out[k] = flat[k]
		}
	}
	return out
}
