// Package watch notices new or changed raw data files in a bucket — a local
// directory (file://), S3 (s3://) or Google Cloud Storage (gs://) through
// gocloud.dev/blob — and calls a trigger, normally a pipeline run. It
// replaces seed A's S3 ObjectCreated → Lambda → Airflow DAG hook with a
// poller that works the same on a laptop and against a cloud bucket.
//
// It sits before the pipeline: it knows nothing about stages. The CLI
// (`datalab watch`) wires its trigger to pipeline/stagerun. What it has seen
// is kept in a small state file (.datalab/watch-state.json), so a restarted
// watcher does not re-trigger for files it already handled.
package watch

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"
	// Bucket drivers for file://, s3:// and gs:// URLs.
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// Defaults of Options.
const (
	DefaultInterval  = 10 * time.Second
	DefaultDebounce  = 2 * time.Second
	DefaultStatePath = ".datalab/watch-state.json"
)

// DefaultGlobs are the raw-data file names watched by default.
var DefaultGlobs = []string{"*.csv", "*.jsonl", "*.parquet"}

// Options tune a Watcher; zero fields take the defaults above.
type Options struct {
	// Interval is the time between polls.
	Interval time.Duration
	// Debounce is the quiet period a burst of changes must be followed by
	// before the trigger fires once for all of them (a multi-file upload).
	// Negative disables waiting.
	Debounce time.Duration
	// Globs filter keys by base name (path.Match patterns).
	Globs []string
	// Prefix restricts the listing to keys under it.
	Prefix string
	// StatePath is the state file.
	StatePath string
	// Logger receives one line per poll that found something; nil uses
	// slog.Default().
	Logger *slog.Logger
}

// Change is a new or modified object.
type Change struct {
	Key     string
	Kind    string // "new" or "modified"
	Size    int64
	ModTime time.Time
}

// Trigger is called once per settled burst of changes. Its error is logged
// (and returned by Once); the changes are not offered again.
type Trigger func(ctx context.Context, changes []Change) error

// Watcher polls one bucket.
type Watcher struct {
	url     string
	bucket  *blob.Bucket
	trigger Trigger
	opts    Options
	log     *slog.Logger
}

// BucketURL turns a command-line argument into a bucket URL: URLs
// (file://, s3://, gs://, …) pass through, anything else is a local
// directory, which must exist.
func BucketURL(arg string) (string, error) {
	if strings.Contains(arg, "://") {
		return arg, nil
	}
	abs, err := filepath.Abs(arg)
	if err != nil {
		return "", err
	}
	info, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("watch %s: %w (give an existing directory or a file://, s3:// or gs:// URL)", arg, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("watch %s: not a directory", arg)
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// New opens the bucket at url (see BucketURL) for watching.
func New(ctx context.Context, url string, trigger Trigger, opts Options) (*Watcher, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Debounce == 0 {
		opts.Debounce = DefaultDebounce
	}
	if len(opts.Globs) == 0 {
		opts.Globs = DefaultGlobs
	}
	for _, g := range opts.Globs {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("glob %q: %w", g, err)
		}
	}
	if opts.StatePath == "" {
		opts.StatePath = DefaultStatePath
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", url, err)
	}
	return &Watcher{url: url, bucket: b, trigger: trigger, opts: opts, log: log.With("bucket", url)}, nil
}

// Close releases the bucket.
func (w *Watcher) Close() error { return w.bucket.Close() }

// object is what the state file remembers of a key.
type object struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	MD5     string    `json:"md5,omitempty"`
}

// changedFrom reports whether o differs from what was seen before. When
// both sides have an MD5 the content decides (a re-upload of the same bytes
// is no change); otherwise size and modification time do.
func (o object) changedFrom(old object) bool {
	if o.MD5 != "" && old.MD5 != "" {
		return o.MD5 != old.MD5 || o.Size != old.Size
	}
	return o.Size != old.Size || !o.ModTime.Equal(old.ModTime)
}

// stateFile is the state file: per bucket URL, the objects last handled.
// One file serves several watched buckets.
type stateFile struct {
	Buckets map[string]map[string]object `json:"buckets"`
}

func readState(p string) (*stateFile, error) {
	st := &stateFile{Buckets: map[string]map[string]object{}}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read watch state: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("watch state %s: %w (delete it to treat every file as new)", p, err)
	}
	if st.Buckets == nil {
		st.Buckets = map[string]map[string]object{}
	}
	return st, nil
}

func (st *stateFile) write(p string) error {
	return atomicfile.Write(p, func(wr io.Writer) error {
		enc := json.NewEncoder(wr)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	})
}

// list returns the matching objects currently in the bucket.
func (w *Watcher) list(ctx context.Context) (map[string]object, error) {
	objs := map[string]object{}
	it := w.bucket.List(&blob.ListOptions{Prefix: w.opts.Prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", w.url, err)
		}
		if o.IsDir || !w.matches(o.Key) {
			continue
		}
		objs[o.Key] = object{Size: o.Size, ModTime: o.ModTime.UTC(), MD5: hex.EncodeToString(o.MD5)}
	}
}

func (w *Watcher) matches(key string) bool {
	base := path.Base(key)
	for _, g := range w.opts.Globs {
		if ok, _ := path.Match(g, base); ok {
			return true
		}
	}
	return false
}

// diff lists the objects of now that are new or changed against seen,
// sorted by key.
func diff(seen, now map[string]object) []Change {
	var changes []Change
	for _, key := range slices.Sorted(maps.Keys(now)) {
		o := now[key]
		old, had := seen[key]
		switch {
		case !had:
			changes = append(changes, Change{Key: key, Kind: "new", Size: o.Size, ModTime: o.ModTime})
		case o.changedFrom(old):
			changes = append(changes, Change{Key: key, Kind: "modified", Size: o.Size, ModTime: o.ModTime})
		}
	}
	return changes
}

// Pending lists what changed since the state file was last written,
// without triggering or saving anything.
func (w *Watcher) Pending(ctx context.Context) ([]Change, error) {
	st, err := readState(w.opts.StatePath)
	if err != nil {
		return nil, err
	}
	now, err := w.list(ctx)
	if err != nil {
		return nil, err
	}
	return diff(st.Buckets[w.url], now), nil
}

// maxSettlePolls bounds how long a continuously changing bucket can hold
// the trigger back.
const maxSettlePolls = 10

// Once polls the bucket; if anything is new or changed it waits for the
// burst to settle, records the new state, then calls the trigger once. It
// reports whether the trigger was called.
//
// The state is written before the trigger runs, so a stage can list the
// state file among its deps to rerun whenever a remote bucket changes, and
// a failing run is not re-triggered in a loop: fix it and run
// `datalab run` by hand.
func (w *Watcher) Once(ctx context.Context) (bool, error) {
	st, err := readState(w.opts.StatePath)
	if err != nil {
		return false, err
	}
	seen := st.Buckets[w.url]
	now, err := w.list(ctx)
	if err != nil {
		return false, err
	}
	for key := range seen {
		if _, ok := now[key]; !ok {
			w.log.Info("object removed; not triggering", "key", key)
		}
	}
	changes := diff(seen, now)
	if len(changes) == 0 {
		if len(now) != len(seen) {
			st.Buckets[w.url] = now
			return false, st.write(w.opts.StatePath)
		}
		return false, nil
	}
	for i := 0; w.opts.Debounce > 0 && i < maxSettlePolls; i++ {
		w.log.Debug("changes seen; waiting for the burst to settle", "changes", len(changes), "debounce", w.opts.Debounce)
		if err := sleep(ctx, w.opts.Debounce); err != nil {
			return false, err
		}
		later, err := w.list(ctx)
		if err != nil {
			return false, err
		}
		if maps.Equal(later, now) {
			break
		}
		now = later
		changes = diff(seen, now)
	}
	if len(changes) == 0 {
		return false, nil
	}
	st.Buckets[w.url] = now
	if err := st.write(w.opts.StatePath); err != nil {
		return false, err
	}
	keys := make([]string, len(changes))
	for i, c := range changes {
		keys[i] = c.Kind + " " + c.Key
	}
	w.log.Info("raw data changed; triggering", "changes", len(changes), "keys", strings.Join(keys, ", "))
	if err := w.trigger(ctx, changes); err != nil {
		return true, fmt.Errorf("triggered run failed: %w", err)
	}
	return true, nil
}

// Run polls every Interval until ctx is cancelled, which ends it with a nil
// error. Listing and trigger errors are logged and polling goes on: a
// watcher outlives a flaky network and a failing run.
func (w *Watcher) Run(ctx context.Context) error {
	w.log.Info("watching", "interval", w.opts.Interval, "globs", strings.Join(w.opts.Globs, ","), "state", w.opts.StatePath)
	for {
		if _, err := w.Once(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.log.Error("watch", "err", err)
		}
		if err := sleep(ctx, w.opts.Interval); err != nil {
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
