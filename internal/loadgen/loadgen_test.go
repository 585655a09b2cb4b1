package loadgen

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

func TestBodies(t *testing.T) {
	bs := Bodies()
	if len(bs) != 32*31 {
		t.Fatalf("%d bodies, want 992", len(bs))
	}
	seen := map[string]bool{}
	for _, b := range bs {
		var r struct {
			Home, Away string
			Neutral    bool
		}
		if err := json.Unmarshal(b, &r); err != nil || r.Home == r.Away || !r.Neutral {
			t.Fatalf("body %s: %v", b, err)
		}
		seen[r.Home+"|"+r.Away] = true
	}
	if len(seen) != len(bs) {
		t.Errorf("%d distinct pairs in %d bodies", len(seen), len(bs))
	}
	if string(Bodies()[0]) != string(bs[0]) {
		t.Error("the order differs between calls")
	}
}

// TestRunOpenLoop: at a fixed rate every call due within d is made, once,
// numbered from 1, and only successful calls are timed.
func TestRunOpenLoop(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]bool{}
	lat, late := Run(func(i int) bool {
		mu.Lock()
		defer mu.Unlock()
		if seen[i] {
			t.Errorf("call %d made twice", i)
		}
		seen[i] = true
		return i%2 == 0
	}, 1000, 4, 200*time.Millisecond)
	for i := 1; i <= 200; i++ {
		if !seen[i] {
			t.Errorf("call %d not made", i)
		}
	}
	if len(seen) != 200 {
		t.Errorf("%d calls, want the 200 due in 200 ms at 1,000/s", len(seen))
	}
	if len(lat) != 100 || len(late) != 100 {
		t.Errorf("%d latencies, %d lates; want the 100 successful calls", len(lat), len(late))
	}
}

// TestRunUntil stops when its context ends, in both modes.
func TestRunUntil(t *testing.T) {
	for _, rate := range []float64{1000, 0} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		lat, _ := RunUntil(ctx, func(int) bool { time.Sleep(time.Millisecond); return true }, rate, 2)
		cancel()
		if took := time.Since(start); took > 5*time.Second || len(lat) == 0 {
			t.Errorf("rate %v: %d calls in %v", rate, len(lat), took)
		}
	}
}

func TestQuantileMs(t *testing.T) {
	d := []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
	if q := QuantileMs(d, 0.5); q != 3 {
		t.Errorf("p50 %v, want 3", q)
	}
	if q := QuantileMs(d, 1); q != 4 {
		t.Errorf("max %v, want 4", q)
	}
	if QuantileMs(nil, 0.5) != 0 {
		t.Error("no durations: want 0")
	}
}
