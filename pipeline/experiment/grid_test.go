package experiment

import (
	"reflect"
	"strings"
	"testing"
)

func TestGrid(t *testing.T) {
	tests := []struct {
		name         string
		sets, sweeps []string
		want         []map[string]any
		wantErr      string
	}{
		{name: "nothing is one point", want: []map[string]any{{}}},
		{name: "sets only", sets: []string{"a.b=1", "c=x"}, want: []map[string]any{{"a.b": 1, "c": "x"}}},
		{
			name: "one sweep", sweeps: []string{"m.depth=4,8,12"},
			want: []map[string]any{{"m.depth": 4}, {"m.depth": 8}, {"m.depth": 12}},
		},
		{
			name: "two sweeps and a set: product, first sweep slowest", sets: []string{"s=true"},
			sweeps: []string{"a=1,2", "b=x,y"},
			want: []map[string]any{
				{"s": true, "a": 1, "b": "x"}, {"s": true, "a": 1, "b": "y"},
				{"s": true, "a": 2, "b": "x"}, {"s": true, "a": 2, "b": "y"},
			},
		},
		{
			name: "commas inside brackets and quotes do not split", sweeps: []string{`v=[form3,elo],[seed], "a,b"`},
			want: []map[string]any{{"v": []any{"form3", "elo"}}, {"v": []any{"seed"}}, {"v": "a,b"}},
		},
		{name: "floats", sweeps: []string{"r=0.5,1e-3"}, want: []map[string]any{{"r": 0.5}, {"r": 0.001}}},
		{name: "key in a set and a sweep", sets: []string{"a=1"}, sweeps: []string{"a=2,3"}, wantErr: "already given"},
		{name: "key swept twice", sweeps: []string{"a=1,2", "a=3"}, wantErr: "already given"},
		{name: "no values", sweeps: []string{"a="}, wantErr: "want key.path=value1,value2"},
		{name: "no key", sweeps: []string{"=1,2"}, wantErr: "want key.path=value1,value2"},
		{name: "empty value", sweeps: []string{"a=1,,2"}, wantErr: "empty value"},
		{name: "value twice", sweeps: []string{"a=1,2,1"}, wantErr: "given twice"},
		{name: "unbalanced", sweeps: []string{"a=[1,2"}, wantErr: "unbalanced"},
		{name: "bad set", sets: []string{"noequals"}, wantErr: "key.path=value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			points, err := Grid(tc.sets, tc.sweeps)
			if !wantError(t, err, tc.wantErr) {
				return
			}
			var got []map[string]any
			for _, p := range points {
				got = append(got, p.Overrides)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("grid = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	grid := func(sets, sweeps []string) []Point {
		t.Helper()
		p, err := Grid(sets, sweeps)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	none := func(string) bool { return false }
	tests := []struct {
		name    string
		points  []Point
		base    string
		taken   func(string) bool
		want    []string
		wantErr string
	}{
		{name: "default from the swept key's last segment", points: grid(nil, []string{"matches.forests.default.max_depth=4,12"}), taken: none,
			want: []string{"max_depth-4", "max_depth-12"}},
		{name: "default from sets without a sweep", points: grid([]string{"b.y=2", "a.x=1"}, nil), taken: none,
			want: []string{"x-1_y-2"}},
		{name: "two sweeps join", points: grid(nil, []string{"a.d=1,2", "n=x"}), taken: none,
			want: []string{"d-1_n-x", "d-2_n-x"}},
		{name: "unsafe characters become dashes", points: grid(nil, []string{"v=[form3, elo]"}), taken: none,
			want: []string{"v-form3-elo"}},
		{name: "nothing to name after", points: grid(nil, nil), taken: none, want: []string{"exp"}},
		{name: "taken default names get a number", points: grid(nil, []string{"d=4"}),
			taken: func(n string) bool { return n == "d-4" || n == "d-4-2" }, want: []string{"d-4-3"}},
		{name: "base alone", points: grid([]string{"d=4"}, nil), base: "deep", taken: none, want: []string{"deep"}},
		{name: "base with one swept key takes the values", points: grid(nil, []string{"d=4,8"}), base: "deep", taken: none,
			want: []string{"deep-4", "deep-8"}},
		{name: "base with two swept keys is numbered", points: grid(nil, []string{"d=4,8", "n=1"}), base: "g", taken: none,
			want: []string{"g-1", "g-2"}},
		{name: "base that is no directory name", points: grid(nil, nil), base: "../x", taken: none, wantErr: "experiment name"},
		{name: "base starting with a dot", points: grid(nil, nil), base: ".hidden", taken: none, wantErr: "experiment name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Names(tc.points, tc.base, tc.taken)
			if !wantError(t, err, tc.wantErr) {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("names = %q, want %q", got, tc.want)
			}
			for _, n := range got {
				if err := CheckName(n); err != nil {
					t.Errorf("generated name: %v", err)
				}
			}
		})
	}
}

// wantError checks err against want (a substring; "" for no error) and
// reports whether the test goes on to check the result.
func wantError(t *testing.T, err error, want string) bool {
	t.Helper()
	if want != "" {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want one containing %q", err, want)
		}
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func FuzzParseSweep(f *testing.F) {
	for _, s := range []string{"a=1,2", "a=[1,2],[3]", `a="x,y",'z'`, "a=", "=1", "a=[", "a=1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		key, values, err := ParseSweep(arg)
		if err != nil {
			return
		}
		if key == "" || len(values) == 0 {
			t.Fatalf("ParseSweep(%q) = %q, %q without error", arg, key, values)
		}
		for _, v := range values {
			if v == "" {
				t.Fatalf("ParseSweep(%q): empty value", arg)
			}
		}
	})
}
