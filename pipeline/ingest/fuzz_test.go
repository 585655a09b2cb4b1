package ingest

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets below feed every line parser real rows of the mirror and
// mutations of them. A parser must never panic, and a row it accepts must
// satisfy the schema's invariants.

func checkFlight(t *testing.T, line string, r FlightRow) {
	t.Helper()
	tm := r.FlightDate.Time()
	if r.DayOfWeek != isoWeekday(tm) || r.DayOfMonth != int32(tm.Day()) || r.DayOfYear != int32(tm.YearDay()) {
		t.Fatalf("%q: DayOf* %d/%d/%d disagree with FlightDate %s", line, r.DayOfMonth, r.DayOfWeek, r.DayOfYear, r.FlightDate)
	}
	if !isAirport(r.Origin) || !isAirport(r.Dest) {
		t.Fatalf("%q: accepted airports %q %q", line, r.Origin, r.Dest)
	}
	if math.IsNaN(r.ArrDelay) || math.IsInf(r.ArrDelay, 0) {
		t.Fatalf("%q: ArrDelay %v", line, r.ArrDelay)
	}
	if r.Distance != nil && *r.Distance < 0 {
		t.Fatalf("%q: negative Distance", line)
	}
	if r.CRSDepTime != nil && r.CRSArrTime != nil && r.CRSArrTime.Before(*r.CRSDepTime) {
		t.Fatalf("%q: arrival before departure", line)
	}
	for _, s := range []*string{r.Carrier, r.FlightNum} {
		if s != nil && !utf8.ValidString(*s) {
			t.Fatalf("%q: invalid UTF-8 accepted", line)
		}
	}
}

func seedLines(f *testing.F, path string, skip, n int) {
	for _, l := range firstLines(f, path, skip, n) {
		f.Add(l)
	}
}

func FuzzMatchRow(f *testing.F) {
	seedLines(f, matchesCSV(f), 1, 20)
	seedLines(f, matchesCSV(f), 20000, 20) // rows with squad scores
	parse := csvRows(len(matchesHeader), parseMatchFields)
	f.Fuzz(func(t *testing.T, line string) {
		r, e := parse([]byte(line))
		if e != nil {
			if e.reason == "" || e.detail == "" {
				t.Fatalf("%q: rejection without reason/detail", line)
			}
			return
		}
		if !utf8.ValidString(r.HomeTeam+r.AwayTeam+r.City+r.Country+r.Tournament) || r.HomeTeam == "" {
			t.Fatalf("%q: accepted invalid text", line)
		}
		switch r.HomeTeamResult {
		case "Win", "Lose", "Draw":
		default:
			t.Fatalf("%q: result %q", line, r.HomeTeamResult)
		}
	})
}

func FuzzResultRow(f *testing.F) {
	seedLines(f, resultsCSV(f), 1, 20)
	seedLines(f, resultsCSV(f), 49000, 20)
	f.Add("2026-07-19,Spain,Argentina,NA,NA,FIFA World Cup,East Rutherford,United States,TRUE")
	parse := csvRows(len(resultsHeader), parseResultFields)
	f.Fuzz(func(t *testing.T, line string) {
		r, e := parse([]byte(line))
		if e == nil && (r.HomeScore == nil) != (r.AwayScore == nil) {
			t.Fatalf("%q: one score null, the other not", line)
		}
	})
}

func FuzzBTS2008Row(f *testing.F) {
	for _, p := range bts2008CSVs(f)[:2] {
		seedLines(f, p, 0, 40)
	}
	seedLines(f, bts2008CSVs(f)[0], 75, 10) // cancelled and diverted rows around line 79
	l := bts2008Layout
	parse := csvRows(len(l.names), l.parse)
	f.Fuzz(func(t *testing.T, line string) {
		r, e := parse([]byte(line))
		if e == nil {
			checkFlight(t, line, r)
		}
	})
}

func FuzzBTSHeaderRow(f *testing.F) {
	header, rows := firstLines(f, bts2017CSV(f), 0, 1), firstLines(f, bts2017CSV(f), 1, 60)
	for _, r := range rows {
		f.Add(r)
	}
	var sp csvSplitter
	hf, err := sp.split([]byte(header[0]))
	if err != nil {
		f.Fatal(err)
	}
	names := make([]string, len(hf))
	for i, b := range hf {
		names[i] = string(b)
	}
	l, err := btsHeaderLayout(names)
	if err != nil {
		f.Fatal(err)
	}
	parse := csvRows(len(l.names), l.parse)
	f.Fuzz(func(t *testing.T, line string) {
		r, e := parse([]byte(line))
		if e == nil {
			checkFlight(t, line, r)
		}
	})
}

func FuzzSeedJSONLine(f *testing.F) {
	// Seed with real BTS 2008 rows rendered in the seed's JSON format.
	l := bts2008Layout
	parse := csvRows(len(l.names), l.parse)
	for _, line := range firstLines(f, bts2008CSVs(f)[0], 0, 30) {
		if r, e := parse([]byte(line)); e == nil {
			f.Add(string(seedJSON(r)))
		}
	}
	f.Add(`{"FlightDate":"2015-01-01","Origin":"ABQ","Dest":"DFW","ArrDelay":1,"FlightNum":1519}`)
	f.Fuzz(func(t *testing.T, line string) {
		r, e := parseSeedLine([]byte(line))
		if e == nil {
			checkFlight(t, line, r)
		}
	})
}

// FuzzParseDistances: any table ParseDistances accepts answers Lookup for
// every pair it lists, with a distance ≥ 0, both ways round; anything else
// is an error that names the line.
func FuzzParseDistances(f *testing.F) {
	for _, l := range firstLines(f, distancesJSONL(f), 0, 5) {
		f.Add(l + "\n")
	}
	f.Add("{\"Origin\":\"ABQ\",\"Dest\":\"DFW\",\"Distance\":569}\n\n{\"Origin\":\"DFW\",\"Dest\":\"ABQ\",\"Distance\":570}\n")
	f.Add(`{"Origin":"","Dest":"DFW","Distance":-1}`)
	f.Fuzz(func(t *testing.T, in string) {
		tab, err := ParseDistances(strings.NewReader(in), "fuzz")
		if err != nil {
			if !strings.Contains(err.Error(), "distance table fuzz") {
				t.Fatalf("error does not name the table: %v", err)
			}
			return
		}
		for line := range strings.SplitSeq(in, "\n") {
			var rec struct{ Origin, Dest string }
			if json.Unmarshal([]byte(line), &rec) != nil || rec.Origin == "" {
				continue
			}
			for _, p := range [][2]string{{rec.Origin, rec.Dest}, {rec.Dest, rec.Origin}} {
				if d, ok := tab.Lookup(p[0], p[1]); !ok || d < 0 || math.IsNaN(d) || math.IsInf(d, 0) {
					t.Fatalf("%q: Lookup(%q, %q) = %v, %v", in, p[0], p[1], d, ok)
				}
			}
		}
	})
}
