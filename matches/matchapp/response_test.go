package matchapp

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/matchwinner"
)

// encodingJSON is what writeJSON sends for v: the reference appendJSON must
// equal byte for byte.
func encodingJSON(t testing.TB, v any) ([]byte, bool) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func sameAsEncodingJSON(t *testing.T, r apiResponse) {
	t.Helper()
	want, wantOK := encodingJSON(t, &r)
	got, ok := r.appendJSON(nil)
	switch {
	case ok && (!wantOK || !bytes.Equal(got, want)):
		t.Fatalf("appendJSON\n got %s\nwant %s (encoding/json ok %v)", got, want, wantOK)
	case !ok && !leftToEncodingJSON(r):
		t.Fatalf("appendJSON declined %+v", r)
	}
}

// leftToEncodingJSON reports whether r is one of the answers appendJSON
// documents it leaves to encoding/json.
func leftToEncodingJSON(r apiResponse) bool {
	if y := r.ServerTime.Year(); y < 0 || y > 9999 || len(r.Probabilities) > 8 {
		return true
	}
	for _, p := range append([]float64{r.Probability}, slices.Collect(maps.Values(r.Probabilities))...) {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return true
		}
	}
	return false
}

func TestAPIResponseJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 19, 0, 0, 123456789, time.UTC)
	base := apiResponse{
		Home: "Argentina", Away: "France", Neutral: true, Outcome: matchwinner.HomeWin, Winner: "Argentina",
		Probability: 0.4921, Probabilities: map[matchwinner.Outcome]float64{matchwinner.HomeWin: 0.4921, matchwinner.Draw: 0.2607, matchwinner.AwayWin: 0.2472},
		ModelVersion: "760c98021de4b0f9", Variant: "form3", ServerTime: at,
	}
	cases := map[string]func(r *apiResponse){
		"served answer": func(r *apiResponse) {},
		"as of a date":  func(r *apiResponse) { r.AsOf = "2022-11-20" },
		"no winner":     func(r *apiResponse) { r.Winner, r.Outcome = "", matchwinner.Draw },
		"not neutral":   func(r *apiResponse) { r.Neutral = false },
		"binary model": func(r *apiResponse) {
			r.Probabilities = map[matchwinner.Outcome]float64{matchwinner.NotHomeWin: 0.6, matchwinner.HomeWin: 0.4}
		},
		"nil map":           func(r *apiResponse) { r.Probabilities = nil },
		"empty map":         func(r *apiResponse) { r.Probabilities = map[matchwinner.Outcome]float64{} },
		"whole seconds":     func(r *apiResponse) { r.ServerTime = at.Truncate(time.Second) },
		"other zone":        func(r *apiResponse) { r.ServerTime = at.In(time.FixedZone("X", -5*3600+1800)) },
		"year 10000":        func(r *apiResponse) { r.ServerTime = at.AddDate(8000, 0, 0) },
		"HTML in names":     func(r *apiResponse) { r.Home, r.Away, r.Winner = "<b>A&B</b>", `"quoted" \\ back`, "x>y" },
		"non-ASCII":         func(r *apiResponse) { r.Home, r.Away = "Côte d'Ivoire", "Türkiye" },
		"line separators":   func(r *apiResponse) { r.Home = "a\u2028b\u2029c" },
		"control bytes":     func(r *apiResponse) { r.Home = "tab\there\x00\x1f\x7f" },
		"invalid UTF-8":     func(r *apiResponse) { r.Away = "bad\xff\xfeutf8" },
		"tiny probability":  func(r *apiResponse) { r.Probability = 1e-7 },
		"exponent 2 digits": func(r *apiResponse) { r.Probability = 1.5e-10 },
		"subnormal":         func(r *apiResponse) { r.Probability = 5e-324 },
		"negative zero":     func(r *apiResponse) { r.Probability = math.Copysign(0, -1) },
		"huge":              func(r *apiResponse) { r.Probability = 1e21 },
		"just below 1e21":   func(r *apiResponse) { r.Probability = 999999999999999900000 },
		"just below 1e-6":   func(r *apiResponse) { r.Probability = 9.99999e-7 },
		"1e-6":              func(r *apiResponse) { r.Probability = 1e-6 },
		"0.1+0.2":           func(r *apiResponse) { r.Probability = 0.1 + 0.2 },
		"NaN":               func(r *apiResponse) { r.Probability = math.NaN() },
		"infinite in map":   func(r *apiResponse) { r.Probabilities[matchwinner.Draw] = math.Inf(1) },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			r := base
			r.Probabilities = map[matchwinner.Outcome]float64{}
			for k, v := range base.Probabilities {
				r.Probabilities[k] = v
			}
			change(&r)
			sameAsEncodingJSON(t, r)
		})
	}
}

// FuzzAPIResponseJSON: for any names and numbers, appendJSON writes what
// encoding/json writes, or leaves the answer to it.
func FuzzAPIResponseJSON(f *testing.F) {
	f.Add("Argentina", "France", "2022-11-20", 0.4921, 0.2607, int64(1765134000123456789))
	f.Add("<&>", "\u2028\xff", "", 1e-7, 1e21, int64(0))
	f.Add("", "", "", math.Copysign(0, -1), 5e-324, int64(-62135596800000000000/1e9))
	f.Fuzz(func(t *testing.T, home, away, asOf string, p, q float64, nanos int64) {
		sameAsEncodingJSON(t, apiResponse{
			Home: home, Away: away, AsOf: asOf, Outcome: matchwinner.Outcome(away), Winner: home,
			Probability: p, Probabilities: map[matchwinner.Outcome]float64{matchwinner.Outcome(home): p, matchwinner.Draw: q},
			ModelVersion: asOf, Variant: home, ServerTime: time.Unix(0, nanos).UTC(),
		})
	})
}

// BenchmarkAPIResponseJSON: the API's answer through appendJSON and through
// encoding/json, as writeJSON encodes it.
func BenchmarkAPIResponseJSON(b *testing.B) {
	r := apiResponse{Home: "Argentina", Away: "France", Neutral: true, Outcome: matchwinner.HomeWin, Winner: "Argentina",
		Probability: 0.49213826, Probabilities: map[matchwinner.Outcome]float64{matchwinner.HomeWin: 0.49213826, matchwinner.Draw: 0.26071249, matchwinner.AwayWin: 0.24714925},
		ModelVersion: "760c98021de4b0f9", Variant: "form3", ServerTime: time.Now().UTC()}
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := r.appendJSON(make([]byte, 0, 512)); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(true)
			if err := enc.Encode(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
