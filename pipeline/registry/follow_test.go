package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadTag "loads" a test model: the tag written into its data file.
func loadTag(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "data/part-00000.parquet"))
	if err != nil {
		return "", err
	}
	tag := strings.TrimPrefix(string(b), "trees of ")
	if tag == "broken" {
		return "", errors.New("this model does not load")
	}
	return tag, nil
}

func TestFollowerSwapsOnPromoteAndRollback(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := registries(t)["dir"]
	a := register(t, r, "a", version("matches", 0.5, 1, "e"))
	b := register(t, r, "b", version("matches", 0.6, 0.9, "e"))
	broken := register(t, r, "broken", version("matches", 0.7, 0.8, "e"))
	if _, _, err := r.Promote(ctx, "matches", "champion", a.ID, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	var swaps []string
	var mu sync.Mutex
	f, err := Follow(ctx, r, "matches", "champion", loadTag, FollowOptions{
		Interval: time.Hour, CacheDir: t.TempDir(), Instance: "test-1",
		OnSwap: func(from, to string, _ time.Duration) {
			mu.Lock()
			swaps = append(swaps, Short(from)+">"+Short(to))
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Current(); c.Model != "a" || c.Version != a.ID {
		t.Fatalf("start: %+v", c)
	}

	// Readers hammer Current while the alias moves: never nil, never a
	// model that is not the one its version names.
	stop := make(chan struct{})
	var bad atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, release := f.Snapshot()
				if c == nil || (c.Model == "a") != (c.Version == a.ID) {
					bad.Add(1)
				}
				release()
			}
		}()
	}
	if _, _, err := r.Promote(ctx, "matches", "champion", b.ID, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if c := f.Current(); c.Model != "b" {
		t.Fatalf("after promote: %+v", c)
	}
	// A version that fails to load: the old one keeps serving.
	if _, _, err := r.Promote(ctx, "matches", "champion", broken.ID, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if c := f.Current(); c.Model != "b" {
		t.Fatalf("after a broken promote: serving %+v, want b still", c)
	}
	if _, err := r.Rollback(ctx, "matches", "champion", "", PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rollback(ctx, "matches", "champion", "", PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if c := f.Current(); c.Model != "a" {
		t.Fatalf("after two rollbacks: %+v", c)
	}
	if bad.Load() != 0 {
		t.Fatalf("%d snapshots were nil or mixed", bad.Load())
	}
	mu.Lock()
	got := strings.Join(swaps, " ")
	mu.Unlock()
	want := ">" + Short(a.ID) + " " + Short(a.ID) + ">" + Short(b.ID) + " " + Short(b.ID) + ">" + Short(a.ID)
	if got != want {
		t.Fatalf("swaps %q, want %q", got, want)
	}
	s, err := r.Servings(ctx, "matches")
	if err != nil || len(s) != 3 || s[1].Version != b.ID || s[2].Instance != "test-1" {
		t.Fatalf("servings %+v %v", s, err)
	}
}

func TestFollowerLoopAndFixedVersion(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := registries(t)["dir"]
	a := register(t, r, "a", version("m", 0.5, 1, "e"))
	b := register(t, r, "b", version("m", 0.6, 0.9, "e"))
	if _, err := Follow(ctx, r, "m", "champion", loadTag, FollowOptions{CacheDir: t.TempDir()}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unset alias: %v", err)
	}
	if _, _, err := r.Promote(ctx, "m", "champion", a.ID, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	fixed, err := Follow(ctx, r, "m", b.ID[:8], loadTag, FollowOptions{CacheDir: t.TempDir()})
	if err != nil || fixed.Current().Model != "b" || fixed.Alias() != "" {
		t.Fatalf("fixed version: %v", err)
	}
	<-fixed.Done()
	f, err := Follow(ctx, r, "m", "champion", loadTag, FollowOptions{CacheDir: t.TempDir(), Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Promote(ctx, "m", "champion", b.ID, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.Current().Model != "b" {
		if time.Now().After(deadline) {
			t.Fatal("the poll loop did not pick up the promotion in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-f.Done()
}

// TestSnapshotAllocatesNothing: every request of an app following an
// alias takes a snapshot, so it must cost no allocation.
func TestSnapshotAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	r := registries(t)["dir"]
	a := register(t, r, "a", version("m", 0.5, 1, "e"))
	if _, _, err := r.Promote(ctx, "m", "champion", a.ID, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := Follow(ctx, r, "m", "champion", loadTag, FollowOptions{CacheDir: t.TempDir(), Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		c, release := f.Snapshot()
		if c.Version != a.ID {
			t.Fatal(c.Version)
		}
		release()
	}); n != 0 {
		t.Errorf("Snapshot allocates %v times per call, want 0", n)
	}
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string]string{
		"registry:matches@champion": "matches champion true",
		"registry:flights":          "flights champion true",
		"build/models/matches/x":    "  false",
	} {
		m, tgt, ok, err := ParseRef(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := m + " " + tgt + " " + map[bool]string{true: "true", false: "false"}[ok]; got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"registry:Bad@x", "registry:m@"} {
		if _, _, _, err := ParseRef(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
