package matchfeat

import (
	"errors"
	"fmt"
	"math"

	"github.com/datalabhq/datalab/pipeline/ingest"
)

// ErrUnknownTeam is returned (wrapped) by Lookup.Features for a team that
// has no entry on or before the requested date.
var ErrUnknownTeam = errors.New("team not in the lookup")

// Features are every value matchfeat knows about one match (home vs away on
// a day), before kick-off. A Variant picks and orders the ones its model uses.
type Features struct {
	Date    ingest.Date
	Home    TeamState
	Away    TeamState
	Neutral bool
	// H2HPlayed, H2HScore and H2HGoalDiff are Lookup.HeadToHead.
	H2HPlayed   int
	H2HScore    float64
	H2HGoalDiff float64
}

// Features computes the features of home vs away on day (neutral ground or
// not) from the lookup as of that day. It is the only way features are made:
// for training rows (each match as of its own date) and for predictions.
func (lk *Lookup) Features(home, away string, neutral bool, day ingest.Date) (Features, error) {
	h, ok := lk.Team(home, day)
	if !ok {
		return Features{}, fmt.Errorf("%w: %q has no match on or before %s", ErrUnknownTeam, home, day)
	}
	a, ok := lk.Team(away, day)
	if !ok {
		return Features{}, fmt.Errorf("%w: %q has no match on or before %s", ErrUnknownTeam, away, day)
	}
	f := Features{Date: day, Home: h, Away: a, Neutral: neutral}
	f.H2HPlayed, f.H2HScore, f.H2HGoalDiff = lk.HeadToHead(home, away, day)
	return f, nil
}

// squadValue is an EA score or NaN when unknown.
func squadValue(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// squadMean is the mean of the four EA scores, NaN unless all are known.
func squadMean(s Squad) float64 {
	if s.Goalkeeper == nil || s.Defense == nil || s.Midfield == nil || s.Offense == nil {
		return math.NaN()
	}
	return (*s.Goalkeeper + *s.Defense + *s.Midfield + *s.Offense) / 4
}

// fifaPoints is a team's FIFA points, NaN before the points system (0 in the
// source).
func fifaPoints(p int32) float64 {
	if p <= 0 {
		return math.NaN()
	}
	return float64(p)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// numericFeatures are the named numeric features a Variant can use, computed
// from Features. Missing values (EA scores, FIFA points before ~2011) are NaN:
// the forest sends NaN right at every split, as Spark's VectorAssembler with
// handleInvalid "keep" hands them over.
var numericFeatures = map[string]func(f *Features) float64{
	"home_team_fifa_rank":         func(f *Features) float64 { return float64(f.Home.Rank) },
	"away_team_fifa_rank":         func(f *Features) float64 { return float64(f.Away.Rank) },
	"home_team_total_fifa_points": func(f *Features) float64 { return float64(f.Home.Points) },
	"away_team_total_fifa_points": func(f *Features) float64 { return float64(f.Away.Points) },
	"year":                        func(f *Features) float64 { return float64(f.Date.Time().Year()) },
	"neutral":                     func(f *Features) float64 { return boolFloat(f.Neutral) },
	"rank_diff":                   func(f *Features) float64 { return float64(f.Home.Rank - f.Away.Rank) },
	"points_diff":                 func(f *Features) float64 { return fifaPoints(f.Home.Points) - fifaPoints(f.Away.Points) },
	"home_elo":                    func(f *Features) float64 { return f.Home.Form.Elo },
	"away_elo":                    func(f *Features) float64 { return f.Away.Form.Elo },
	"elo_diff":                    func(f *Features) float64 { return f.Home.Form.Elo - f.Away.Form.Elo },
	"elo_expected": func(f *Features) float64 {
		d := f.Home.Form.Elo - f.Away.Form.Elo
		if !f.Neutral {
			d += EloHomeAdvantage
		}
		return EloExpected(d)
	},
	"home_form_points": func(f *Features) float64 { return f.Home.Form.Points },
	"away_form_points": func(f *Features) float64 { return f.Away.Form.Points },
	"form_points_diff": func(f *Features) float64 { return f.Home.Form.Points - f.Away.Form.Points },
	"home_form_gd":     func(f *Features) float64 { return f.Home.Form.GoalDiff },
	"away_form_gd":     func(f *Features) float64 { return f.Away.Form.GoalDiff },
	"form_gd_diff":     func(f *Features) float64 { return f.Home.Form.GoalDiff - f.Away.Form.GoalDiff },
	"home_played":      func(f *Features) float64 { return float64(f.Home.Form.Played) },
	"away_played":      func(f *Features) float64 { return float64(f.Away.Form.Played) },
	"h2h_played":       func(f *Features) float64 { return float64(f.H2HPlayed) },
	"h2h_score":        func(f *Features) float64 { return f.H2HScore },
	"h2h_gd":           func(f *Features) float64 { return f.H2HGoalDiff },
	"home_squad":       func(f *Features) float64 { return squadMean(f.Home.Squad) },
	"away_squad":       func(f *Features) float64 { return squadMean(f.Away.Squad) },
	"squad_diff":       func(f *Features) float64 { return squadMean(f.Home.Squad) - squadMean(f.Away.Squad) },
	"squad_gk_diff": func(f *Features) float64 {
		return squadValue(f.Home.Squad.Goalkeeper) - squadValue(f.Away.Squad.Goalkeeper)
	},
	"squad_def_diff": func(f *Features) float64 { return squadValue(f.Home.Squad.Defense) - squadValue(f.Away.Squad.Defense) },
	"squad_mid_diff": func(f *Features) float64 {
		return squadValue(f.Home.Squad.Midfield) - squadValue(f.Away.Squad.Midfield)
	},
	"squad_off_diff":    func(f *Features) float64 { return squadValue(f.Home.Squad.Offense) - squadValue(f.Away.Squad.Offense) },
	"attack_vs_defense": func(f *Features) float64 { return squadValue(f.Home.Squad.Offense) - squadValue(f.Away.Squad.Defense) },
	"defense_vs_attack": func(f *Features) float64 { return squadValue(f.Home.Squad.Defense) - squadValue(f.Away.Squad.Offense) },
}

// stringFeatures are the string columns a Variant can index (StringIndexer):
// the seed's team and continent codes.
var stringFeatures = map[string]func(f *Features) string{
	"home_team":           func(f *Features) string { return f.Home.Team },
	"away_team":           func(f *Features) string { return f.Away.Team },
	"home_team_continent": func(f *Features) string { return f.Home.Continent },
	"away_team_continent": func(f *Features) string { return f.Away.Continent },
}

// Value returns the named numeric feature, or the string feature as a string.
// It is how the features Parquet file and the Spark raw rows are filled.
func (f *Features) Value(name string) (float64, string, error) {
	if fn, ok := numericFeatures[name]; ok {
		return fn(f), "", nil
	}
	if fn, ok := stringFeatures[name]; ok {
		return math.NaN(), fn(f), nil
	}
	return 0, "", fmt.Errorf("unknown match feature %q", name)
}
