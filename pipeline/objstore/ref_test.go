package objstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	_ "gocloud.dev/blob/memblob" // a store without conditional writes
)

// TestSwapRef: create-if-absent, swap-if-unchanged, and a stale tag
// refused with ErrConflict, on every kind of store the tests can run
// (gofakes3 speaks S3's If-Match / If-None-Match; directories lock).
func TestSwapRef(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			r, err := s.ReadRef(ctx, "refs/a.json")
			if err != nil || r.Exists() {
				t.Fatalf("absent ref: %+v, %v", r, err)
			}
			if err := s.SwapRef(ctx, "refs/a.json", r, []byte("one")); err != nil {
				t.Fatal(err)
			}
			// A second create from the same (absent) read conflicts.
			if err := s.SwapRef(ctx, "refs/a.json", r, []byte("other")); !errors.Is(err, ErrConflict) {
				t.Fatalf("second create: %v, want ErrConflict", err)
			}
			r1, err := s.ReadRef(ctx, "refs/a.json")
			if err != nil || string(r1.Data) != "one" || !r1.Exists() {
				t.Fatalf("read after create: %q %v", r1.Data, err)
			}
			if err := s.SwapRef(ctx, "refs/a.json", r1, []byte("two")); err != nil {
				t.Fatal(err)
			}
			// r1 is stale now.
			if err := s.SwapRef(ctx, "refs/a.json", r1, []byte("three")); !errors.Is(err, ErrConflict) {
				t.Fatalf("stale swap: %v, want ErrConflict", err)
			}
			got, err := s.Get(ctx, "refs/a.json", "")
			if err != nil || string(got) != "two" {
				t.Fatalf("content %q, %v; want two (the refused writes left nothing)", got, err)
			}
		})
	}
}

// TestSwapRefConcurrent: writers racing from the same read — exactly one
// wins each round, the others get ErrConflict, and no update is lost over
// many rounds of read-modify-swap with retries.
func TestSwapRefConcurrent(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			base, err := s.ReadRef(ctx, "refs/race")
			if err != nil {
				t.Fatal(err)
			}
			const writers = 6
			errs := make([]error, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.SwapRef(ctx, "refs/race", base, []byte(fmt.Sprint("w", i)))
				}()
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrConflict):
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d writers won from the same read, want exactly 1 (%v)", won, errs)
			}

			// Counter: every increment lands once.
			const incs = 5
			wg = sync.WaitGroup{}
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for done := 0; done < incs; {
						r, err := s.ReadRef(ctx, "refs/counter")
						if err != nil {
							t.Error(err)
							return
						}
						n := 0
						if r.Exists() {
							fmt.Sscan(string(r.Data), &n)
						}
						err = s.SwapRef(ctx, "refs/counter", r, []byte(fmt.Sprint(n+1)))
						if errors.Is(err, ErrConflict) {
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						done++
					}
				}()
			}
			wg.Wait()
			r, err := s.ReadRef(ctx, "refs/counter")
			if err != nil || string(r.Data) != fmt.Sprint(writers*incs) {
				t.Fatalf("counter %q (%v), want %d: an update was lost", r.Data, err, writers*incs)
			}
		})
	}
}

func TestSwapRefUnsupportedStore(t *testing.T) {
	s := open(t, "mem://")
	err := s.SwapRef(context.Background(), "k", Ref{}, []byte("x"))
	if err == nil || errors.Is(err, ErrConflict) {
		t.Fatalf("mem:// swap: %v, want a refusal", err)
	}
}
