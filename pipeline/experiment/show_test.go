package experiment

import "testing"

func TestResolveMetric(t *testing.T) {
	rows := []Row{{Metrics: map[string]float64{
		"matches.served.holdout.accuracy": 0.6, "matches.served.holdout.rps": 0.17,
		"flights.variants.bts.holdout.accuracy": 0.68,
	}}}
	tests := []struct{ name, want, wantErr string }{
		{name: "matches.served.holdout.rps", want: "matches.served.holdout.rps"},
		{name: "served.holdout.accuracy", want: "matches.served.holdout.accuracy"},
		{name: "holdout.accuracy", wantErr: "matches 2 metrics"},
		{name: "served.accuracy", wantErr: "similar: flights.variants.bts.holdout.accuracy, matches.served.holdout.accuracy"},
		{name: "nothing", wantErr: "datalab runs show ID lists"},
	}
	for _, tc := range tests {
		got, err := resolveMetric(rows, tc.name)
		if !wantError(t, err, tc.wantErr) {
			continue
		}
		if got != tc.want {
			t.Errorf("resolveMetric(%s) = %s, want %s", tc.name, got, tc.want)
		}
	}
	_, err := resolveMetric([]Row{{}}, "x")
	wantError(t, err, "no experiment has metrics")
}
