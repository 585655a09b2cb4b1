package flightdelay_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flighttest"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

func fixedEnricher(t testing.TB) *flightdelay.Enricher {
	s, d := flighttest.Fixtures(t)
	return &flightdelay.Enricher{Distances: d, Scorer: s,
		Now:   func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) },
		NewID: func() string { return "6f1c0f3e-8d0c-4a57-9e0b-0c8f5e0c1a11" }}
}

func TestEnrichSeedDefaults(t *testing.T) {
	r, err := fixedEnricher(t).Enrich(flightdelay.DefaultForm)
	if err != nil {
		t.Fatal(err)
	}
	// 2016-12-25 was a Sunday: 7 here, 6 in the seed (its Monday=0 bug).
	want := flightdelay.Request{DepDelay: 5, Carrier: "AA", FlightDate: "2016-12-25", Dest: "SFO", Origin: "ATL",
		Distance: 2139, DayOfYear: 360, DayOfMonth: 25, DayOfWeek: 7,
		Timestamp: "2026-11-23T10:00:00Z", UUID: "6f1c0f3e-8d0c-4a57-9e0b-0c8f5e0c1a11"}
	if !sameRequest(r, want) {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	b, _ := json.Marshal(r)
	wantJSON := `{"DepDelay":5,"Carrier":"AA","FlightDate":"2016-12-25","Dest":"SFO","FlightNum":null,"Origin":"ATL","Distance":2139,"DayOfYear":360,"DayOfMonth":25,"DayOfWeek":7,"Timestamp":"2026-11-23T10:00:00Z","UUID":"6f1c0f3e-8d0c-4a57-9e0b-0c8f5e0c1a11"}`
	if string(b) != wantJSON {
		t.Fatalf("message\n%s\nwant the seed's field order\n%s", b, wantJSON)
	}
	back, err := flightdelay.DecodeRequest(b)
	if err != nil || !sameRequest(back, r) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func sameRequest(a, b flightdelay.Request) bool {
	an, bn := a.FlightNum, b.FlightNum
	a.FlightNum, b.FlightNum = nil, nil
	if a != b {
		return false
	}
	return (an == nil) == (bn == nil) && (an == nil || *an == *bn)
}

func TestISOWeekday(t *testing.T) {
	for day, want := range map[string]int{"2016-12-19": 1, "2016-12-24": 6, "2016-12-25": 7, "2015-01-01": 4} {
		d, _ := time.Parse(flightdelay.DateLayout, day)
		if got := flightdelay.ISOWeekday(d); got != want {
			t.Errorf("%s: %d, want %d", day, got, want)
		}
	}
}

func TestEnrichRejects(t *testing.T) {
	e := fixedEnricher(t)
	ok := flightdelay.DefaultForm
	tests := []struct {
		name  string
		edit  func(f *flightdelay.Form)
		field string
		text  string
	}{
		{"missing delay", func(f *flightdelay.Form) { f.DepDelay = "" }, "DepDelay", "missing"},
		{"delay not a number", func(f *flightdelay.Form) { f.DepDelay = "five" }, "DepDelay", "not a number"},
		{"delay NaN", func(f *flightdelay.Form) { f.DepDelay = "NaN" }, "DepDelay", "not a number"},
		{"delay huge", func(f *flightdelay.Form) { f.DepDelay = "1e9" }, "DepDelay", "outside"},
		{"missing carrier", func(f *flightdelay.Form) { f.Carrier = "" }, "Carrier", "missing"},
		{"carrier symbols", func(f *flightdelay.Form) { f.Carrier = "A$" }, "Carrier", "uppercase letters"},
		{"unknown carrier", func(f *flightdelay.Form) { f.Carrier = "ZZ" }, "Carrier", `does not know Carrier "ZZ"`},
		{"bad date", func(f *flightdelay.Form) { f.FlightDate = "2016-02-30" }, "FlightDate", "not a date"},
		{"date words", func(f *flightdelay.Form) { f.FlightDate = "yesterday" }, "FlightDate", "not a date"},
		{"date out of range", func(f *flightdelay.Form) { f.FlightDate = "1850-01-01" }, "FlightDate", "outside"},
		{"missing origin", func(f *flightdelay.Form) { f.Origin = "" }, "Origin", "missing"},
		{"long origin", func(f *flightdelay.Form) { f.Origin = "ATLANTA" }, "Origin", "character code"},
		{"same airports", func(f *flightdelay.Form) { f.Dest = "ATL" }, "Dest", "same as Origin"},
		{"unknown pair", func(f *flightdelay.Form) { f.Origin, f.Dest = "ATL", "ZZZ" }, "Dest", "no distance for ATL→ZZZ"},
		{"bad flight number", func(f *flightdelay.Form) { f.FlightNum = "12ab" }, "FlightNum", "digits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ok
			tc.edit(&f)
			_, err := e.Enrich(f)
			if !flightdelay.IsValidation(err) {
				t.Fatalf("err = %v, want a validation error", err)
			}
			if !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %q, want field %s and %q", err, tc.field, tc.text)
			}
		})
	}
	f := ok
	f.FlightNum = " 1234 "
	f.Carrier, f.Origin, f.Dest = "aa", " atl", "sfo "
	r, err := e.Enrich(f)
	if err != nil || *r.FlightNum != "1234" || r.Carrier != "AA" || r.Origin != "ATL" || r.Dest != "SFO" {
		t.Fatalf("normalised form: %+v, %v", r, err)
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	good, _ := fixedEnricher(t).Enrich(flightdelay.DefaultForm)
	gb, _ := json.Marshal(good)
	edit := func(k string, v any) []byte {
		var m map[string]any
		json.Unmarshal(gb, &m)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		data []byte
		text string
	}{
		{"empty", nil, "not a JSON object"},
		{"garbage", []byte("\x00\x01poison"), "not a JSON object"},
		{"array", []byte("[1,2]"), "not a JSON object"},
		{"null", []byte("null"), "null"},
		{"trailing", append(append([]byte{}, gb...), []byte(" {}")...), "trailing"},
		{"missing UUID", edit("UUID", nil), "missing fields UUID"},
		{"bad UUID", edit("UUID", "nope"), "UUID"},
		{"string delay", edit("DepDelay", "5"), "field types"},
		{"seed weekday bug", edit("DayOfWeek", 6), "DayOfWeek: 6, but 2016-12-25 is a Sunday = 7"},
		{"wrong day of year", edit("DayOfYear", 1), "DayOfYear"},
		{"zero distance", edit("Distance", 0), "Distance"},
		{"bad timestamp", edit("Timestamp", "noon"), "Timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flightdelay.DecodeRequest(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %q", err, tc.text)
			}
		})
	}
}

// TestScoreMatchesSparkml checks the Scorer against the sparkml pipeline
// used directly (what `datalab predict` does) on routes of the distance
// table, and that unknown values are caught by Check before scoring.
func TestScoreMatchesSparkml(t *testing.T) {
	s, _ := flighttest.Fixtures(t)
	p, err := sparkml.LoadPipeline(flighttest.ModelDir(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Derive = []sparkml.Derivation{{Output: "Route", Inputs: []string{"Origin", "Dest"}, Sep: "-"}}
	e := fixedEnricher(t)
	var rows bytes.Buffer
	var reqs []flightdelay.Request
	for _, c := range []struct{ carrier, origin, dest, date, delay string }{
		{"AA", "ATL", "SFO", "2016-12-25", "5"}, {"DL", "ATL", "LAX", "2015-01-05", "-10"},
		{"UA", "SFO", "ORD", "2015-01-31", "45"}, {"WN", "LAS", "PHX", "2015-01-15", "0"},
		{"AA", "DFW", "ORD", "2015-01-02", "120"}, {"B6", "JFK", "BOS", "2015-01-20", "-3"},
	} {
		r, err := e.Enrich(flightdelay.Form{DepDelay: c.delay, Carrier: c.carrier, FlightDate: c.date, Origin: c.origin, Dest: c.dest})
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		reqs = append(reqs, r)
		b, _ := json.Marshal(map[string]any{"Carrier": r.Carrier, "Origin": r.Origin, "Dest": r.Dest,
			"DepDelay": r.DepDelay, "Distance": r.Distance, "DayOfMonth": r.DayOfMonth, "DayOfWeek": r.DayOfWeek, "DayOfYear": r.DayOfYear})
		rows.Write(append(b, '\n'))
	}
	var out bytes.Buffer
	if _, err := sparkml.PredictJSONL(t.Context(), p, &rows, &out); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&out)
	for _, r := range reqs {
		var want struct {
			Prediction  int
			Probability []float64
		}
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Score(r)
		if err != nil {
			t.Fatal(err)
		}
		if got.Prediction != want.Prediction || len(got.Probability) != 4 || got.PredictionLabel != flightdelay.BucketLabels[want.Prediction] {
			t.Fatalf("%s: %+v, predict gives %+v", r.Route(), got, want)
		}
		for k := range want.Probability {
			if got.Probability[k] != want.Probability[k] {
				t.Fatalf("%s: probability %v, predict gives %v", r.Route(), got.Probability, want.Probability)
			}
		}
		if got.Route != r.Origin+"-"+r.Dest || got.UUID != r.UUID || got.Model != "flight-delay-spark-3.3.3 (Spark 3.3.3)" {
			t.Fatalf("document %+v", got)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"DepDelay":5.0,"Carrier":"AA","FlightDate":"2016-12-25","Dest":"SFO","FlightNum":null,"Origin":"ATL","Distance":2139.0,"DayOfYear":360,"DayOfMonth":25,"DayOfWeek":7,"Timestamp":"2026-11-23T10:00:00Z","UUID":"6f1c0f3e-8d0c-4a57-9e0b-0c8f5e0c1a11"}`))
	f.Add([]byte(`{"DepDelay":5.0,"Carrier":"AA","FlightDate":"2016-12-25","Dest":"SFO","FlightNum":"12","Origin":"ATL","Distance":2139.0,"DayOfYear":360,"DayOfMonth":25,"DayOfWeek":6,"Timestamp":"x","UUID":"y"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := flightdelay.DecodeRequest(data)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded request does not validate: %v", err)
		}
		b, _ := json.Marshal(r)
		back, err := flightdelay.DecodeRequest(b)
		if err != nil || !sameRequest(back, r) {
			t.Fatalf("re-encoded request: %+v, %v", back, err)
		}
	})
}
