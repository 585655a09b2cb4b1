package predlog_test

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// TestScanAllDialects: Scan returns exactly the rows of a window (since
// inclusive, until exclusive), of one model version when asked, oldest
// first with the version and then the id breaking ties, every field as
// stored; ModelVersions
// counts the window's rows per version; an error from the callback stops
// the scan; features written by hand in another JSON layout decode too.
func TestScanAllDialects(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			l := predlogtest.OpenFresh(t, d)
			ctx := context.Background()
			t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
			var es []predlog.Entry
			// Written out of time order, two at the same instant, in a
			// non-UTC zone: the scan orders by time, then id.
			for i, at := range []time.Duration{5 * time.Minute, 0, time.Minute, time.Minute, 2 * time.Hour, -time.Second, 90 * time.Minute} {
				e := entry("Argentina", "France", matchwinner.HomeWin, t0.Add(at).In(time.FixedZone("X", 3*3600)))
				e.ModelVersion = []string{"v1", "v2"}[i%2]
				e.Features = map[string]float64{"elo_diff": float64(i) * 10.5, "neutral": 1}
				if i == 3 {
					delete(e.Features, "elo_diff") // a missing value is left out
					e.AsOf = time.Date(2022, 11, 20, 0, 0, 0, 0, time.UTC)
				}
				es = append(es, e)
			}
			if err := l.Insert(ctx, es); err != nil {
				t.Fatal(err)
			}
			scan := func(w predlog.Window) (out []predlog.Entry) {
				t.Helper()
				err := l.Scan(ctx, w, func(e *predlog.Entry) error {
					c := *e
					c.Probabilities, c.Features = maps.Clone(e.Probabilities), maps.Clone(e.Features)
					out = append(out, c)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			all := scan(predlog.Window{})
			for i, e := range all {
				if p := all[max(i-1, 0)]; i > 0 && (e.ServerTime.Before(p.ServerTime) ||
					e.ServerTime.Equal(p.ServerTime) && (e.ModelVersion < p.ModelVersion || e.ModelVersion == p.ModelVersion && e.ID < p.ID)) {
					t.Errorf("row %d (%v, %s, id %d) after row %d (%v, %s, id %d): not in (time, version, id) order", i, e.ServerTime, e.ModelVersion, e.ID, i-1, p.ServerTime, p.ModelVersion, p.ID)
				}
				if e.ServerTime.Location() != time.UTC {
					t.Errorf("server time %v not in UTC", e.ServerTime)
				}
			}
			if len(all) != len(es) {
				t.Fatalf("scan of everything: %d rows, want %d", len(all), len(es))
			}
			// Every field as stored: rows 2 (v1) and 3 (v2) share t0+1m.
			got := all[2]
			want := es[2]
			want.ID, want.ServerTime = got.ID, want.ServerTime.UTC()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("scanned entry:\n got  %+v\n want %+v", got, want)
			}
			if g := all[3]; g.Features["neutral"] != 1 || len(g.Features) != 1 || !g.AsOf.Equal(es[3].AsOf) {
				t.Errorf("row without elo_diff: %+v", g)
			}

			// The window: since inclusive, until exclusive.
			w := predlog.Window{Since: t0.Add(time.Minute), Until: t0.Add(90 * time.Minute)}
			in := scan(w)
			if len(in) != 3 || !in[0].ServerTime.Equal(t0.Add(time.Minute)) || !in[2].ServerTime.Equal(t0.Add(5*time.Minute)) {
				t.Errorf("window [1m, 90m): %d rows %v", len(in), serverTimes(in))
			}
			w.ModelVersion = "v2"
			if v2 := scan(w); len(v2) != 1 || v2[0].ModelVersion != "v2" {
				t.Errorf("window of v2: %+v", v2)
			}
			counts, err := l.ModelVersions(ctx, predlog.Window{Since: t0, Until: t0.Add(3 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if wantCounts := []predlog.Counted{{"v1", 4}, {"v2", 2}}; !reflect.DeepEqual(counts, wantCounts) {
				t.Errorf("ModelVersions = %v, want %v", counts, wantCounts)
			}
			// An open start sees the row before t0.
			if counts, _ := l.ModelVersions(ctx, predlog.Window{Until: t0.Add(time.Second)}); !reflect.DeepEqual(counts, []predlog.Counted{{"v2", 2}}) {
				t.Errorf("ModelVersions until t0+1s = %v", counts)
			}

			// The callback's error ends the scan and comes back unwrapped.
			stop := errors.New("enough")
			n := 0
			if err := l.Scan(ctx, predlog.Window{}, func(*predlog.Entry) error { n++; return stop }); err != stop || n != 1 {
				t.Errorf("scan stopped by its callback: %v after %d rows", err, n)
			}

			// Features in another JSON layout (spaces), as a row loaded by
			// hand may have them.
			if _, err := l.DB().ExecContext(ctx, "UPDATE "+l.Table()+` SET features = '{ "elo_diff" : 1e3, "aé" : -2.5 }' WHERE id = `+strconv.FormatInt(all[0].ID, 10)); err != nil {
				t.Fatal(err)
			}
			first := scan(predlog.Window{Until: t0})
			if len(first) != 1 || !reflect.DeepEqual(first[0].Features, map[string]float64{"elo_diff": 1000, "aé": -2.5}) {
				t.Errorf("hand-written features: %+v", first)
			}
		})
	}
}

func serverTimes(es []predlog.Entry) []time.Time {
	out := make([]time.Time, len(es))
	for i, e := range es {
		out[i] = e.ServerTime
	}
	return out
}
