// Package layout is where a datalab pipeline's files live in object
// storage — the seed's buckets (raw, parquet, scripts, models, logs) as
// prefixes of one bucket — and the pipeline/stagerun.Remote that moves them
// there and back with package objstore (`datalab run --remote URL`).
//
// The mapping is one table, Table; docs/object-storage.md shows it. Paths
// are slash-separated and relative to the pipeline root.
package layout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/datalabhq/datalab/pipeline/lfspointer"
	"github.com/datalabhq/datalab/pipeline/objstore"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Rule maps local paths under Local to keys under Remote.
type Rule struct {
	// Local is a path prefix ending in "/" ("" matches every path).
	Local string
	// Remote is the key prefix; "" means such paths are not stored.
	Remote string
	// What describes the files, for the docs.
	What string
}

// Table is the layout, most specific rule first; the first rule whose
// Local prefix matches a path decides its key. The seed created one bucket
// per row (raw, parquet, scripts, models, logs); here they are prefixes of
// one bucket, so one URL (and one IAM policy) covers a lab.
var Table = []Rule{
	{Local: "data/pointers/", Remote: "", What: "git-LFS pointer files: versioned in git, never stored"},
	{Local: "data/", Remote: "raw/", What: "materialised data set files, data/<set>/<file> → raw/<set>/<file>: the bytes the ingest stages read"},
	{Local: "build/parquet/", Remote: "parquet/", What: "typed Parquet and quarantine files written by the ingest stages"},
	{Local: "build/models/", Remote: "models/", What: "model directories (Spark PipelineModel format), build/models/<use case>/<variant>"},
	{Local: "runs/", Remote: "logs/", What: "run records and stage logs, runs/<id>/run.json and runs/<id>/<stage>.log (wherever --runs-dir puts them)"},
	{Local: SparkJobDir + "/", Remote: "scripts/", What: "the PySpark job files (*.py) a Spark cluster runs, where flights/emr's steps expect them"},
	{Local: "build/", Remote: "build/", What: "every other stage output: features, lookups, metrics, reports, notebooks"},
	{Local: SiteDir + "/", Remote: SitePrefix, What: "the report site: runs/<id>/ (each run's reports and run record, one manifest directory per run), notebooks/, index and diff pages (datalab report sync)"},
	{Local: "", Remote: "files/", What: "any other path a pipeline declares as a dependency or out"},
}

// Generated objects, not copies of local paths.
const (
	// ScriptKey holds the stage commands as a shell script (see Script).
	ScriptKey = "scripts/pipeline.sh"
	// PipelineKeyPrefix holds the pipeline file itself, under its own name.
	PipelineKeyPrefix = "scripts/"
	// SparkJobDir is the repository directory whose *.py files are pushed
	// to scripts/.
	SparkJobDir = "flights/sparkjob"
)

// Key returns the key of a local path, and false for paths that are not
// stored (git-LFS pointers). A path naming a rule's directory itself
// ("build/models") maps to the rule's prefix without the slash ("models").
func Key(rel string) (string, bool) {
	rel = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(rel)), "./")
	for _, r := range Table {
		rest, ok := strings.CutPrefix(rel, r.Local)
		if !ok && rel+"/" == r.Local {
			rest, ok = "", true
		}
		if !ok {
			continue
		}
		if r.Remote == "" {
			return "", false
		}
		return strings.TrimSuffix(r.Remote+rest, "/"), true
	}
	return "", false // unreachable: the last rule matches everything
}

// Remote is the stagerun.Remote of one pipeline root over a store.
type Remote struct {
	store *objstore.Store
	root  string
	log   *slog.Logger
}

var _ stagerun.Remote = (*Remote)(nil)

// Open opens the store at location (a directory or a file://, s3:// or
// gs:// URL, see objstore.BucketURL) as the remote of the pipeline rooted
// at root. log nil means slog.Default().
func Open(ctx context.Context, location, root string, log *slog.Logger) (*Remote, error) {
	s, err := objstore.Open(ctx, location)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Remote{store: s, root: root, log: log.With("remote", location)}, nil
}

// Close releases the store.
func (r *Remote) Close() error { return r.store.Close() }

// String is the store's location.
func (r *Remote) String() string { return r.store.String() }

func (r *Remote) local(rel string) string { return filepath.Join(r.root, filepath.FromSlash(rel)) }

// Fetch implements stagerun.Remote: a directory (a prefix with a manifest)
// or a file is downloaded and verified. A data file declared by a git-LFS
// pointer is verified against the pointer's oid, so raw files uploaded by
// other tools (without datalab's sha256 metadata) are accepted when they
// are the declared bytes.
func (r *Remote) Fetch(ctx context.Context, rel string) (bool, error) {
	key, ok := Key(rel)
	if !ok {
		return false, nil
	}
	kind, err := r.store.Lookup(ctx, key)
	switch {
	case err != nil:
		return false, err
	case kind == objstore.Dir:
		m, err := r.store.DownloadDir(ctx, key, r.local(rel))
		if err != nil {
			return false, err
		}
		r.log.Info("fetched", "path", rel, "key", key, "files", len(m.Files), "bytes", m.Size())
	case kind == objstore.File:
		want, err := r.declaredOid(rel)
		if err != nil {
			return false, err
		}
		obj, err := r.store.Download(ctx, key, r.local(rel), want)
		if err != nil {
			return false, err
		}
		r.log.Info("fetched", "path", rel, "key", key, "bytes", obj.Size)
	default:
		return false, nil
	}
	return true, nil
}

// declaredOid is the oid of the git-LFS pointer declaring data file rel
// (data/<set>/<f> ← data/pointers/<set>/<f>.pointer), or "" when there is
// none.
func (r *Remote) declaredOid(rel string) (string, error) {
	rest, ok := strings.CutPrefix(rel, "data/")
	if !ok {
		return "", nil
	}
	b, err := os.ReadFile(r.local("data/pointers/" + rest + ".pointer"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	p, err := lfspointer.Decode(b)
	if err != nil {
		return "", fmt.Errorf("data/pointers/%s.pointer: %w", rest, err)
	}
	return p.Oid, nil
}

// Push implements stagerun.Remote.
func (r *Remote) Push(ctx context.Context, rel string) error {
	key, ok := Key(rel)
	if !ok {
		return nil
	}
	return r.push(ctx, rel, key)
}

func (r *Remote) push(ctx context.Context, rel, key string) error {
	info, err := os.Stat(r.local(rel))
	if err != nil {
		return err
	}
	if info.IsDir() {
		m, sent, err := r.store.UploadDir(ctx, key, r.local(rel))
		if err != nil {
			return err
		}
		r.logPush(rel, key, sent, "files", len(m.Files), "bytes", m.Size())
		return nil
	}
	return r.pushFile(ctx, r.local(rel), key, rel)
}

// logPush logs uploads at info level and no-op pushes at debug level.
func (r *Remote) logPush(rel, key string, sent int, attrs ...any) {
	level := slog.LevelDebug
	if sent > 0 {
		level = slog.LevelInfo
	}
	r.log.Log(context.Background(), level, "pushed", append([]any{"path", rel, "key", key, "sent", sent}, attrs...)...)
}

// PushRun implements stagerun.Remote: runs/<id>/ goes to logs/<id>/,
// wherever the run directory is.
func (r *Remote) PushRun(ctx context.Context, dir, id string) error {
	key, _ := Key("runs/" + id)
	m, sent, err := r.store.UploadDir(ctx, key, dir)
	if err != nil {
		return err
	}
	r.logPush(dir, key, sent, "files", len(m.Files))
	return nil
}
