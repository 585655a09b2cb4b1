package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/pipeline/objstore/objstoretest"
)

// registries opens one registry per kind of store the tests can run: a
// directory and the fake S3 (gofakes3, real S3 HTTP).
func registries(t *testing.T) map[string]*Registry {
	fake := objstoretest.NewS3(t, "models")
	out := map[string]*Registry{}
	for name, loc := range map[string]string{
		"dir": filepath.Join(t.TempDir(), "registry"),
		"s3":  strings.Replace(fake.URL(), "s3://models?", "s3://models/team?", 1),
	} {
		r, err := Open(context.Background(), loc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		out[name] = r
	}
	return out
}

// modelDir writes a small model directory whose content depends on tag.
func modelDir(t *testing.T, tag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), tag)
	for name, body := range map[string]string{
		"metadata/part-00000":     `{"class":"org.apache.spark.ml.classification.RandomForestClassificationModel","tag":"` + tag + `"}`,
		"data/part-00000.parquet": "trees of " + tag,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func version(model string, acc, loss float64, eval string) Version {
	return Version{Model: model, EvalData: eval, Metrics: []Metric{
		{Key: "accuracy", Value: acc, HigherIsBetter: true},
		{Key: "log_loss", Value: loss},
	}}
}

func register(t *testing.T, r *Registry, tag string, v Version) Version {
	t.Helper()
	got, created, err := r.Register(context.Background(), modelDir(t, tag), v)
	if err != nil || !created {
		t.Fatalf("register %s: created %v, %v", tag, created, err)
	}
	return got
}

func TestRegisterPromoteRollback(t *testing.T) {
	ctx := context.Background()
	for name, r := range registries(t) {
		t.Run(name, func(t *testing.T) {
			a := register(t, r, "a", version("matches", 0.50, 1.00, "eval1"))
			b := register(t, r, "b", version("matches", 0.52, 0.98, "eval1"))
			worse := register(t, r, "worse", version("matches", 0.40, 1.00, "eval1"))
			other := register(t, r, "other", version("matches", 0.90, 0.10, "eval2"))

			// Same files, same version: no second record.
			again, created, err := r.Register(ctx, modelDir(t, "a"), version("matches", 0, 0, "x"))
			if err != nil || created || again.ID != a.ID || again.EvalData != "eval1" {
				t.Fatalf("re-register: %+v created=%v %v", again, created, err)
			}
			if len(a.ID) != 64 || a.Files != 2 {
				t.Fatalf("version %+v", a)
			}

			if _, _, err := r.Promote(ctx, "matches", "champion", a.ID[:8], PromoteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, g, err := r.Promote(ctx, "matches", "champion", b.ID, PromoteOptions{}); err != nil || !g.Pass {
				t.Fatalf("better candidate: %v %+v", err, g)
			}
			// A regression is refused, with the diff, and changes nothing.
			_, g, err := r.Promote(ctx, "matches", "champion", worse.ID, PromoteOptions{})
			if !errors.Is(err, ErrGate) || g.Pass || !strings.Contains(err.Error(), "accuracy") || !strings.Contains(err.Error(), "regression") {
				t.Fatalf("worse candidate: %v", err)
			}
			// Different evaluation data: not comparable.
			if _, _, err := r.Promote(ctx, "matches", "champion", other.ID, PromoteOptions{}); !errors.Is(err, ErrGate) || !strings.Contains(err.Error(), "not comparable") {
				t.Fatalf("other eval data: %v", err)
			}
			if al, _ := r.Alias(ctx, "matches", "champion"); al.Version != b.ID {
				t.Fatalf("refused promotions moved the alias to %s", Short(al.Version))
			}
			// --force overrides and is recorded.
			mv, _, err := r.Promote(ctx, "matches", "champion", worse.ID, PromoteOptions{Force: true, By: "test"})
			if err != nil || !mv.Forced || mv.Seq != 3 || !strings.Contains(mv.Gate, "refused") {
				t.Fatalf("forced: %+v %v", mv, err)
			}
			// Rollbacks walk the undo stack: worse → b → a.
			if mv, err := r.Rollback(ctx, "matches", "champion", "", PromoteOptions{}); err != nil || mv.To != b.ID || mv.From != worse.ID {
				t.Fatalf("rollback 1: %+v %v", mv, err)
			}
			if mv, err := r.Rollback(ctx, "matches", "champion", "", PromoteOptions{}); err != nil || mv.To != a.ID {
				t.Fatalf("rollback 2: %+v %v", mv, err)
			}
			if _, err := r.Rollback(ctx, "matches", "champion", "", PromoteOptions{}); err == nil {
				t.Fatal("rollback past the first version succeeded")
			}
			al, err := r.Alias(ctx, "matches", "champion")
			if err != nil || al.Version != a.ID || len(al.Moves) != 5 {
				t.Fatalf("alias %+v %v", al, err)
			}
			// @alias references and listing.
			if v, err := r.Version(ctx, "matches", "@champion"); err != nil || v.ID != a.ID {
				t.Fatalf("@champion: %v %v", v.ID, err)
			}
			vs, err := r.Versions(ctx, "matches")
			if err != nil || len(vs) != 4 {
				t.Fatalf("versions: %d %v", len(vs), err)
			}
			if ms, _ := r.Models(ctx); len(ms) != 1 || ms[0] != "matches" {
				t.Fatalf("models %v", ms)
			}
			// Fetch returns the verified files.
			dir, err := r.Fetch(ctx, "matches", b.ID, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if body, _ := os.ReadFile(filepath.Join(dir, "data/part-00000.parquet")); string(body) != "trees of b" {
				t.Fatalf("fetched %q", body)
			}
		})
	}
}

// TestConcurrentPromotes: two promotions decided from the same state —
// exactly one wins, the other gets a conflict error naming what to do, and
// the alias history holds exactly the winner's move.
func TestConcurrentPromotes(t *testing.T) {
	ctx := context.Background()
	for name, r := range registries(t) {
		t.Run(name, func(t *testing.T) {
			base := register(t, r, "base", version("flights", 0.5, 1, "e"))
			if _, _, err := r.Promote(ctx, "flights", "champion", base.ID, PromoteOptions{}); err != nil {
				t.Fatal(err)
			}
			cands := []Version{register(t, r, "c1", version("flights", 0.6, 0.9, "e")), register(t, r, "c2", version("flights", 0.61, 0.9, "e"))}
			for round := range 5 {
				// Both read the alias before either writes: a barrier
				// between readAlias and the swap.
				var ready, wg sync.WaitGroup
				ready.Add(2)
				errs := make([]error, 2)
				al, old, err := r.readAlias(ctx, "flights", "champion")
				if err != nil {
					t.Fatal(err)
				}
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ready.Done()
						ready.Wait()
						to := cands[i].ID
						if to == al.Version {
							to = base.ID
						}
						_, errs[i] = r.move(ctx, al, old, Move{Action: "promote", From: al.Version, To: to})
					}()
				}
				wg.Wait()
				won := 0
				for _, err := range errs {
					if err == nil {
						won++
					} else if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "moved by someone else") {
						t.Fatalf("round %d: %v", round, err)
					}
				}
				if won != 1 {
					t.Fatalf("round %d: %d promotions won, want exactly 1 (%v)", round, won, errs)
				}
				after, _ := r.Alias(ctx, "flights", "champion")
				if len(after.Moves) != len(al.Moves)+1 {
					t.Fatalf("round %d: %d moves after, want %d", round, len(after.Moves), len(al.Moves)+1)
				}
			}
			// Through the public API, many racers: every success is one move.
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			start, _ := r.Alias(ctx, "flights", "champion")
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					target := cands[i%2].ID
					_, _, err := r.Promote(ctx, "flights", "champion", target, PromoteOptions{Force: true})
					if err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			end, _ := r.Alias(ctx, "flights", "champion")
			if len(end.Moves)-len(start.Moves) != wins || wins == 0 {
				t.Fatalf("%d promotions reported success, %d moves recorded", wins, len(end.Moves)-len(start.Moves))
			}
		})
	}
}

func TestGate(t *testing.T) {
	cur := version("m", 0.50, 1.00, "e")
	cur.ID = strings.Repeat("a", 64)
	for _, c := range []struct {
		name string
		cand Version
		o    GateOptions
		pass bool
	}{
		{"better", version("m", 0.51, 0.99, "e"), GateOptions{}, true},
		{"within tolerance", version("m", 0.497, 1.004, "e"), GateOptions{}, true},
		{"accuracy regression", version("m", 0.49, 0.9, "e"), GateOptions{}, false},
		{"loss regression (lower is better)", version("m", 0.6, 1.01, "e"), GateOptions{}, false},
		{"only accuracy gated", version("m", 0.6, 2, "e"), GateOptions{Metrics: []string{"accuracy"}}, true},
		{"zero tolerance", version("m", 0.4999, 1, "e"), GateOptions{Tolerance: -1}, false},
		{"wide tolerance", version("m", 0.45, 1, "e"), GateOptions{Tolerance: 0.1}, true},
		{"other data", version("m", 0.9, 0.1, "f"), GateOptions{}, false},
		{"missing metric", Version{EvalData: "e", Metrics: []Metric{{Key: "accuracy", Value: 0.9, HigherIsBetter: true}}}, GateOptions{Metrics: []string{"log_loss"}}, false},
	} {
		g := Gate(cur, c.cand, c.o)
		if g.Pass != c.pass {
			t.Errorf("%s: pass=%v, want %v\n%s", c.name, g.Pass, c.pass, g.Text())
		}
	}
}

func TestNamesAndRefs(t *testing.T) {
	ctx := context.Background()
	r := registries(t)["dir"]
	for _, bad := range []string{"", "Champion", "a/b", "../x", strings.Repeat("a", 64)} {
		if _, err := r.Alias(ctx, "matches", bad); err == nil {
			t.Errorf("alias %q accepted", bad)
		}
	}
	if _, _, err := r.Register(ctx, modelDir(t, "x"), Version{Model: "Bad/Name"}); err == nil {
		t.Error("bad model name accepted")
	}
	if _, _, err := r.Register(ctx, t.TempDir(), Version{Model: "m"}); err == nil {
		t.Error("empty directory registered")
	}
	v := register(t, r, "x", version("m", 1, 1, "e"))
	if _, err := r.Version(ctx, "m", "abc"); err == nil {
		t.Error("3-digit prefix accepted")
	}
	if _, err := r.Version(ctx, "m", "ffffff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown prefix: %v", err)
	}
	if _, err := r.Version(ctx, "m", "@champion"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unset alias: %v", err)
	}
	if got, err := r.Version(ctx, "m", v.ID[:6]); err != nil || got.ID != v.ID {
		t.Errorf("prefix: %v", err)
	}
}

// TestFetchRefusesDamagedCopy: a version whose stored files were altered
// fails loudly instead of being served.
func TestFetchRefusesDamagedCopy(t *testing.T) {
	ctx := context.Background()
	loc := filepath.Join(t.TempDir(), "reg")
	r, err := Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	v := register(t, r, "x", version("m", 1, 1, "e"))
	p := filepath.Join(loc, "m", "versions", v.ID, "files", "data", "part-00000.parquet")
	if err := os.WriteFile(p, []byte("tampered!!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(ctx, "m", v.ID, t.TempDir()); err == nil {
		t.Fatal("damaged version fetched")
	}
}

func TestServings(t *testing.T) {
	ctx := context.Background()
	r := registries(t)["dir"]
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i, v := range []string{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"} {
		if err := r.RecordServing(ctx, Serving{Model: "m", Alias: "champion", Version: v, Instance: "Host:8080", Since: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := r.Servings(ctx, "m")
	if err != nil || len(s) != 2 || s[0].Version[0] != 'a' || s[1].Instance != "Host:8080" {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestSelectOids(t *testing.T) {
	got := SelectOids(map[string]string{
		"matches/international_matches.csv":                  "sha256:a",
		"data/pointers/martj42/results.csv.pointer":          "b",
		"data/pointers/bts2008/flights_2008_4_1.csv.pointer": "c",
	}, "matches", "martj42")
	if len(got) != 2 || got["matches/international_matches.csv"] != "a" || got["martj42/results.csv"] != "b" {
		t.Fatalf("%v", got)
	}
}
