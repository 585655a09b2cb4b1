package stagerun

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cachePipeline has a stage with a file out and a directory out whose
// command counts its runs in a file outside the outs.
const cachePipeline = `params:
  a: 1
  b: x
stages:
  make:
    cmd: >-
      echo run >> count.txt &&
      mkdir -p build/dir/sub &&
      head -c 3000 /dev/zero | tr '\0' '${params.a}' > build/file.bin &&
      echo ${params.a} > build/dir/one.txt &&
      head -c 5000 /dev/zero | tr '\0' 'z' > build/dir/sub/two.bin
    params: [a]
    outs: [build/file.bin, build/dir]
  use:
    cmd: cat build/file.bin build/dir/one.txt > build/use.txt && echo ${params.b} >> build/use.txt
    deps: [build/file.bin, build/dir]
    outs: [build/use.txt]
`

func cacheSetup(t *testing.T) (*Pipeline, Options) {
	t.Helper()
	p := writePipeline(t, cachePipeline)
	c, err := OpenCache(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.Cache = c
	return p, opts
}

func runCount(t *testing.T, p *Pipeline) int {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(p.Root, "count.txt"))
	return bytes.Count(data, []byte("run"))
}

func setParam1(t *testing.T, path string, ov map[string]any) *Pipeline {
	t.Helper()
	p := mustLoad(t, path)
	if err := p.Override(ov); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCacheRestoresSwitchedBackParam(t *testing.T) {
	p, opts := cacheSetup(t)
	var logs bytes.Buffer
	opts.Logger = testLogger(&logs)
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	wantRan(t, mustRun(t, p, nil, opts), "make", "use")
	p2 := setParam1(t, p.Path, map[string]any{"a": 2})
	wantRan(t, mustRun(t, p2, nil, opts), "make", "use")
	if n := runCount(t, p); n != 2 {
		t.Fatalf("make ran %d times, want 2", n)
	}
	var seen []string
	opts.OnStage = func(stage, status string) { seen = append(seen, stage+":"+status) }
	rec := mustRun(t, mustLoad(t, p.Path), nil, opts)
	if got := statuses(rec); got["make"] != StatusCached || got["use"] != StatusCached {
		t.Fatalf("statuses %v, want both cached", got)
	}
	if n := runCount(t, p); n != 2 {
		t.Fatalf("make ran again (%d runs) instead of being restored", n)
	}
	if want := "make:running make:cached use:running use:cached"; strings.Join(seen, " ") != want {
		t.Fatalf("OnStage calls %v, want %s", seen, want)
	}
	data, _ := os.ReadFile(filepath.Join(p.Root, "build/file.bin"))
	if len(data) != 3000 || data[0] != '1' {
		t.Fatalf("restored file.bin starts %q (%d bytes)", data[:1], len(data))
	}
	if one, _ := os.ReadFile(filepath.Join(p.Root, "build/dir/one.txt")); string(one) != "1\n" {
		t.Fatalf("restored dir/one.txt = %q", one)
	}
	// Restored outs share the objects' inodes: no byte copies.
	e, err := opts.Cache.Entry(rec.Stage("make").Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range e.Outs {
		for _, f := range o.Files {
			ws := filepath.Join(p.Root, filepath.FromSlash(o.Path), filepath.FromSlash(f.Path))
			a, err1 := os.Stat(ws)
			b, err2 := os.Stat(opts.Cache.objectPath(f.Object))
			if err1 != nil || err2 != nil || !os.SameFile(a, b) {
				t.Errorf("%s is not a hard link of its object (%v %v)", ws, err1, err2)
			}
			if b.Mode().Perm()&0o222 != 0 {
				t.Errorf("object of %s is writable: %v", ws, b.Mode())
			}
		}
	}
	// The lock now names the restored outs: a plain run does nothing.
	rec = mustRun(t, mustLoad(t, p.Path), nil, opts)
	if got := statuses(rec); got["make"] != StatusSkipped || got["use"] != StatusSkipped {
		t.Fatalf("after the restore: %v, want skipped", got)
	}
	pl, err := setParam1(t, p.Path, map[string]any{"a": 2}).Plan(t.Context(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !pl.Stages[0].Cached || !strings.Contains(pl.String(), "cache make: restore from the run cache") || !strings.Contains(pl.String(), "upstream make will be restored from the run cache") {
		t.Fatalf("dry run does not use the cache:\n%s", pl)
	}
}

func TestCacheCorruptObjectRuns(t *testing.T) {
	p, opts := cacheSetup(t)
	mustRun(t, p, nil, opts)
	key := mustRun(t, mustLoad(t, p.Path), nil, opts).Stage("make").Key
	mustRun(t, setParam1(t, p.Path, map[string]any{"a": 2}), nil, opts)
	e, err := opts.Cache.Entry(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written in place (root may, whatever the mode), same size.
	obj := opts.Cache.objectPath(e.Outs[0].Files[0].Object)
	os.Chmod(obj, 0o644)
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(obj, bytes.Repeat([]byte("9"), 3000), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	opts.Logger = testLogger(&logs)
	rec := mustRun(t, mustLoad(t, p.Path), nil, opts)
	if got := statuses(rec)["make"]; got != StatusRan {
		t.Fatalf("make %s with a corrupt cache object, want ran", got)
	}
	if !strings.Contains(logs.String(), "was modified") {
		t.Fatalf("no log line says why the cache was not used:\n%s", logs.String())
	}
	data, _ := os.ReadFile(filepath.Join(p.Root, "build/file.bin"))
	if data[0] != '1' {
		t.Fatalf("file.bin holds %q after the run", data[:1])
	}
	// The run stored the entry again: switching away and back restores.
	mustRun(t, setParam1(t, p.Path, map[string]any{"a": 3}), nil, opts)
	if got := statuses(mustRun(t, mustLoad(t, p.Path), nil, opts))["make"]; got != StatusCached {
		t.Fatalf("make %s after the entry was stored again, want cached", got)
	}
	// A missing object: the stage runs.
	e, _ = opts.Cache.Entry(key)
	obj = opts.Cache.objectPath(e.Outs[1].Files[0].Object)
	os.Remove(filepath.Join(p.Root, "build/dir/one.txt"))
	if err := os.Remove(obj); err != nil {
		t.Fatal(err)
	}
	mustRun(t, setParam1(t, p.Path, map[string]any{"a": 3}), nil, opts)
	logs.Reset()
	if got := statuses(mustRun(t, mustLoad(t, p.Path), nil, opts))["make"]; got != StatusRan {
		t.Fatalf("make %s with a missing object, want ran", got)
	}
	if !strings.Contains(logs.String(), "is missing") {
		t.Fatalf("no log line says the object is missing:\n%s", logs.String())
	}
}

func TestCacheConcurrentStores(t *testing.T) {
	c, err := OpenCache(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("concurrent"), 500)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "d"), 0o755)
		os.WriteFile(filepath.Join(root, "f.bin"), content, 0o644)
		os.WriteFile(filepath.Join(root, "d", "g.bin"), content, 0o644)
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHasher(root)
			outs := []LockPath{{Path: "f.bin", SHA256: "x", Size: int64(len(content))}, {Path: "d", SHA256: "y"}}
			if err := c.store(root, "s", "samekey", outs, h, testLogger(nil)); err != nil {
				errs <- fmt.Errorf("store %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e, err := c.Entry("samekey")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.check(e, []string{"f.bin", "d"}); err != nil {
		t.Fatal(err)
	}
	ents, _ := filepath.Glob(filepath.Join(c.Dir(), "objects", "*", "*"))
	if len(ents) != 1 {
		t.Fatalf("objects %v, want one (same content)", ents)
	}
	if data, _ := os.ReadFile(ents[0]); !bytes.Equal(data, content) {
		t.Fatal("object content differs")
	}
}

func TestCacheGC(t *testing.T) {
	p, opts := cacheSetup(t)
	keyA := mustRun(t, p, nil, opts).Stage("make").Key
	recB := mustRun(t, setParam1(t, p.Path, map[string]any{"a": 2}), nil, opts)
	keyB := recB.Stage("make").Key
	keys, err := opts.Cache.Keys()
	if err != nil || len(keys) != 4 {
		t.Fatalf("keys %v (%v), want 4 (2 stages × 2 values)", keys, err)
	}
	before, _ := opts.Cache.Size()
	eA, _ := opts.Cache.Entry(keyA)
	eB, _ := opts.Cache.Entry(keyB)
	// Remove the workspace so objects have no other link.
	os.RemoveAll(filepath.Join(p.Root, "build"))
	freed, err := opts.Cache.GC(func(k string) bool { return k == keyB })
	if err != nil {
		t.Fatal(err)
	}
	after, _ := opts.Cache.Size()
	if freed <= 0 || after >= before {
		t.Fatalf("freed %d, size %d → %d", freed, before, after)
	}
	if keys, _ := opts.Cache.Keys(); len(keys) != 1 || keys[0] != keyB {
		t.Fatalf("keys after gc %v, want [%s]", keys, keyB)
	}
	if err := opts.Cache.check(eB, []string{"build/file.bin", "build/dir"}); err != nil {
		t.Fatalf("a kept entry lost an object: %v", err)
	}
	// file.bin of a=1 is only in entry A: gone. sub/two.bin is shared: kept.
	if _, err := os.Stat(opts.Cache.objectPath(eA.Outs[0].Files[0].Object)); err == nil {
		t.Fatal("an unreferenced object was kept")
	}
}

func TestHashStateRehashesRewrittenFile(t *testing.T) {
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = 0
	root := t.TempDir()
	p := filepath.Join(root, "data.bin")
	old := time.Now().Add(-time.Hour)
	write := func(b byte) {
		if err := os.WriteFile(p, bytes.Repeat([]byte{b}, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	write('a')
	h := newHasher(root)
	d1, err := h.hash("data.bin")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.save(); err != nil {
		t.Fatal(err)
	}
	h2 := newHasher(root)
	info, _ := os.Stat(p)
	if sum, ok := h2.state.lookup(p, info); !ok || sum != d1.SHA256 {
		t.Fatalf("the saved state does not know the unchanged file (%v)", ok)
	}
	time.Sleep(20 * time.Millisecond) // past the ctime granularity
	write('b')                        // same size, same mtime: only ctime differs
	d2, err := h2.hash("data.bin")
	if err != nil {
		t.Fatal(err)
	}
	if d2.SHA256 == d1.SHA256 {
		t.Fatal("a rewritten file with the same size and mtime was not hashed again")
	}
}

// testLogger logs text to w (nil discards).
func testLogger(w *bytes.Buffer) *slog.Logger {
	if w == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// A run whose out has content the cache already holds must not keep a
// second copy: the out becomes a link to the existing object (ten
// experiments that write the same 8 MB lookup file cost one copy).
func TestCacheDedupesOutsAlreadyStored(t *testing.T) {
	p, opts := cacheSetup(t)
	mustRun(t, p, nil, opts)
	two := filepath.Join(p.Root, "build", "dir", "sub", "two.bin")
	first, err := os.Stat(two)
	if err != nil {
		t.Fatal(err)
	}
	// The second run rewrites two.bin with the same bytes (a new inode).
	mustRun(t, setParam1(t, p.Path, map[string]any{"a": 2}), nil, opts)
	second, err := os.Stat(two)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(first, second) {
		t.Fatalf("build/dir/sub/two.bin is a separate copy of content the cache already held (inode %d, cache object inode %d)",
			second.Sys().(*syscall.Stat_t).Ino, first.Sys().(*syscall.Stat_t).Ino)
	}
	if got, _ := os.ReadFile(two); len(got) != 5000 {
		t.Fatalf("two.bin has %d bytes after dedupe, want 5000", len(got))
	}
}
