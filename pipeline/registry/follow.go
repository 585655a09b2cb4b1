package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// RefScheme prefixes a model location that names a registry alias:
// "registry:matches@champion" (or "registry:matches@<version id>").
const RefScheme = "registry:"

// ParseRef splits "registry:<model>@<alias or version>" into its parts;
// ok is false when location is not a registry reference. A missing
// "@…" means the champion.
func ParseRef(location string) (model, target string, ok bool, err error) {
	rest, ok := strings.CutPrefix(location, RefScheme)
	if !ok {
		return "", "", false, nil
	}
	model, target, found := strings.Cut(rest, "@")
	if !found {
		target = DefaultAlias
	}
	if err := CheckName("model", model); err != nil {
		return "", "", true, fmt.Errorf("model reference %q: %w", location, err)
	}
	if target == "" {
		return "", "", true, fmt.Errorf("model reference %q: give an alias or version after @", location)
	}
	return model, target, true, nil
}

// Loaded is one version of a model, loaded and ready to serve.
type Loaded[T any] struct {
	Version string // registry version id
	Model   T
	Since   time.Time // when it began serving here
}

// FollowOptions configure a Follower.
type FollowOptions struct {
	// Interval between checks of the alias; 0 means 2 s.
	Interval time.Duration
	// CacheDir is where versions are fetched to (Fetch).
	CacheDir string
	// Instance names this server in the registry's serving records
	// (RecordServing); empty records nothing.
	Instance string
	Logger   *slog.Logger
	// OnSwap is called after each version change (and for the first
	// version) with the old and new version ids, "" for none.
	OnSwap func(from, to string, took time.Duration)
	// OnError is called when a new version could not be fetched or
	// loaded; the old one keeps serving.
	OnError func(version string, err error)
}

// Follower serves whichever version a registry alias points at: it loads
// the current version on start, then checks the alias every Interval and,
// when it moved, fetches and loads the new version in the background and
// swaps it in atomically. Requests take one snapshot (Current) and use only
// it, so no answer mixes two versions. A version that fails to load is
// logged and skipped; the old one keeps serving and the next move is tried.
//
// Current and Snapshot are safe for concurrent use. A swap waits for the
// snapshots taken under Snapshot to be released, so the time a snapshot
// was taken orders it exactly against the swap (a request stamped before
// the swap's Since used the old version, after it the new one).
type Follower[T any] struct {
	reg          *Registry
	model, alias string
	load         func(dir string) (T, error)
	o            FollowOptions

	mu      sync.RWMutex
	release func() // mu.RUnlock, bound once: Snapshot allocates nothing
	cur     *Loaded[T]
	failed  string // the version that failed to load last, not retried until the alias moves
	done    chan struct{}
}

// Follow loads what model@target points at (an alias, or a fixed version
// id) and, for an alias, keeps following it until ctx ends. load turns a
// fetched directory into a servable model.
func Follow[T any](ctx context.Context, reg *Registry, model, target string, load func(dir string) (T, error), o FollowOptions) (*Follower[T], error) {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CacheDir == "" {
		o.CacheDir = os.TempDir()
	}
	f := &Follower[T]{reg: reg, model: model, load: load, o: o, done: make(chan struct{})}
	f.release = f.mu.RUnlock
	id, isAlias, err := f.resolve(ctx, target)
	if err != nil {
		return nil, err
	}
	if isAlias {
		f.alias = target
	}
	if err := f.swapTo(ctx, id); err != nil {
		return nil, err
	}
	if !isAlias {
		close(f.done)
		return f, nil
	}
	go f.loop(ctx)
	return f, nil
}

// resolve turns the target into a version id and says whether it is an
// alias (followed) or a version (fixed).
func (f *Follower[T]) resolve(ctx context.Context, target string) (string, bool, error) {
	if CheckName("alias", target) == nil {
		a, err := f.reg.Alias(ctx, f.model, target)
		if err != nil {
			return "", false, err
		}
		if a.Version != "" {
			return a.Version, true, nil
		}
		if !isHex(target) {
			return "", false, fmt.Errorf("%s@%s points at no version yet: datalab models promote %s <version> --alias %s: %w",
				f.model, target, f.model, target, ErrNotFound)
		}
	}
	v, err := f.reg.Version(ctx, f.model, target)
	if err != nil {
		return "", false, err
	}
	return v.ID, false, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// Current is the version serving now.
func (f *Follower[T]) Current() *Loaded[T] {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cur
}

// Snapshot returns the serving version and holds off swaps until release
// is called: stamp the request's time while holding it. It allocates
// nothing (it is on every request's path).
func (f *Follower[T]) Snapshot() (cur *Loaded[T], release func()) {
	f.mu.RLock()
	return f.cur, f.release
}

// Alias is the alias followed, "" for a fixed version.
func (f *Follower[T]) Alias() string { return f.alias }

// Model is the registry model name.
func (f *Follower[T]) Model() string { return f.model }

// Done is closed when the follower stops checking the alias.
func (f *Follower[T]) Done() <-chan struct{} { return f.done }

func (f *Follower[T]) loop(ctx context.Context) {
	defer close(f.done)
	t := time.NewTicker(f.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := f.Check(ctx); err != nil && ctx.Err() == nil {
			f.o.Logger.Warn("model registry check failed; serving the current version", "model", f.model, "alias", f.alias, "err", err)
		}
	}
}

// Check reads the alias once and swaps if it moved (the loop calls it
// every Interval; tests and benchmarks call it to swap without waiting).
func (f *Follower[T]) Check(ctx context.Context) error {
	if f.alias == "" {
		return nil
	}
	a, err := f.reg.Alias(ctx, f.model, f.alias)
	if err != nil {
		return err
	}
	cur := f.Current()
	if a.Version == "" || a.Version == cur.Version {
		return nil
	}
	f.mu.RLock()
	failed := f.failed == a.Version
	f.mu.RUnlock()
	if failed {
		return nil
	}
	if err := f.swapTo(ctx, a.Version); err != nil {
		f.mu.Lock()
		f.failed = a.Version
		f.mu.Unlock()
		f.o.Logger.Error("new model version failed to load; still serving the old one",
			"model", f.model, "alias", f.alias, "version", Short(a.Version), "serving", Short(cur.Version), "err", err)
		if f.o.OnError != nil {
			f.o.OnError(a.Version, err)
		}
		return nil
	}
	return nil
}

// swapTo fetches and loads version id outside the lock, then swaps.
func (f *Follower[T]) swapTo(ctx context.Context, id string) error {
	start := time.Now()
	dir, err := f.reg.Fetch(ctx, f.model, id, f.o.CacheDir)
	if err != nil {
		return err
	}
	m, err := f.load(dir)
	if err != nil {
		return fmt.Errorf("load %s version %s: %w", f.model, Short(id), err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	f.mu.Lock()
	from := ""
	if f.cur != nil {
		from = f.cur.Version
	}
	next := &Loaded[T]{Version: id, Model: m, Since: time.Now()}
	f.cur = next
	f.failed = ""
	f.mu.Unlock()
	took := time.Since(start)
	f.o.Logger.Info("serving model version", "model", f.model, "alias", f.alias, "from", Short(from), "version", Short(id),
		"since", next.Since.Format(time.RFC3339Nano), "load_took", took.Round(time.Millisecond))
	if f.o.OnSwap != nil {
		f.o.OnSwap(from, id, took)
	}
	if f.o.Instance != "" {
		err := f.reg.RecordServing(ctx, Serving{Model: f.model, Alias: f.alias, Version: id, Instance: f.o.Instance, Since: next.Since})
		if err != nil && !errors.Is(err, context.Canceled) {
			f.o.Logger.Warn("could not record the version change in the registry", "err", err)
		}
	}
	return nil
}
