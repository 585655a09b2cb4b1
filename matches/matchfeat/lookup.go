// Package matchfeat builds the features of the World Cup match-winner model
// from the ingested match history (build/parquet/matches.parquet).
//
// It sits between pipeline/ingest and the model (matches/matchmodel):
//
//	ingest.MatchRow → BuildLookup → Lookup (per-team timeline + head-to-head)
//	Lookup.Features(home, away, neutral, date) → Features → Variant.Vector → forest
//
// Training rows and live predictions go through the same function:
// a training row's features are Lookup.Features for its two teams as of its
// date, exactly what a predictor computes from the saved lookup for the same
// request. Nothing a match row records after kick-off (scores, result) is
// visible to features of matches on or before its date, which is what keeps the
// historical evaluation honest (no leakage); pre-match attributes published in
// the row (FIFA rank and points, EA squad scores, continent) are visible from
// the row's own date on.
package matchfeat

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/datalabhq/datalab/pipeline/ingest"
)

// LookupSchema identifies the JSON layout of a saved Lookup.
const LookupSchema = "datalab.matchfeat.lookup/v1"

// FormWindow is the number of most recent matches the form features average.
const FormWindow = 10

// H2HWindow is the number of most recent meetings the head-to-head features
// average.
const H2HWindow = 10

// EloStart is every team's rating before its first match in the data.
const EloStart = 1500

// EloHomeAdvantage is added to the home team's rating difference when the
// match is not on neutral ground (the World Football Elo convention).
const EloHomeAdvantage = 100

// Squad holds the EA Sports squad scores of a team (goalkeeper, defence,
// midfield, offence); a nil entry is unknown.
type Squad struct {
	Goalkeeper *float64 `json:"gk,omitempty"`
	Defense    *float64 `json:"def,omitempty"`
	Midfield   *float64 `json:"mid,omitempty"`
	Offense    *float64 `json:"off,omitempty"`
}

// Form is what a team's results up to some day say about it.
type Form struct {
	// Elo is the team's Elo rating (World Football Elo formula, see
	// EloK), starting at EloStart.
	Elo float64 `json:"elo"`
	// Played counts the team's matches so far in the data.
	Played int `json:"n"`
	// Points is the mean of 3/1/0 points over the last FormWindow matches
	// (0 before the first match).
	Points float64 `json:"pts"`
	// GoalDiff is the mean goal difference over the last FormWindow matches.
	GoalDiff float64 `json:"gd"`
}

// TeamEntry is a team's state on one day it played: the pre-match attributes
// published for that day and its form after that day's matches.
type TeamEntry struct {
	Date      ingest.Date `json:"date"`
	Continent string      `json:"continent"`
	Rank      int32       `json:"rank"`
	// Points are the total FIFA points (0 before the points system, ~2011).
	Points int32 `json:"points"`
	// Squad carries forward the latest known value of each EA score.
	Squad Squad `json:"squad"`
	// After is the team's form once the day's matches are played.
	After Form `json:"after"`
}

// Meeting is one match between two teams, from the point of view of the
// alphabetically first of the pair.
type Meeting struct {
	Date ingest.Date `json:"date"`
	// GoalDiff is first team's goals minus the second team's.
	GoalDiff int32 `json:"gd"`
}

// TeamState is a team as of a day, before that day's matches: what a
// predictor knows about it at kick-off.
type TeamState struct {
	Team      string
	Continent string
	Rank      int32
	Points    int32
	Squad     Squad
	Form      Form
	// Since is the date of the entry the pre-match attributes come from.
	Since ingest.Date
}

// Lookup is the per-team timeline and head-to-head history built from the
// match data: the table the model's features are computed from, as of any
// date. It is saved beside every model (JSON) and is read-only once built,
// so it is safe for concurrent use.
type Lookup struct {
	Schema string `json:"schema"`
	// FirstDate and LastDate bound the matches the lookup was built from.
	FirstDate ingest.Date `json:"first_date"`
	LastDate  ingest.Date `json:"last_date"`
	// Matches is the number of matches the lookup was built from.
	Matches int `json:"matches"`
	// Teams maps each team to its entries in date order.
	Teams map[string][]TeamEntry `json:"teams"`
	// H2H maps PairKey(a, b) to the pair's meetings in date order.
	H2H map[string][]Meeting `json:"h2h"`
}

// PairKey is the H2H key of two teams: their names in alphabetical order
// joined by "|".
func PairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "|" + b
}

// EloK is the weight of a match in the Elo update, by tournament, following
// eloratings.net: World Cup finals 60, continental championship finals and
// the Confederations Cup 50, qualifiers and other tournaments 40, friendlies 20.
func EloK(tournament string) float64 {
	t := strings.ToLower(tournament)
	switch {
	case strings.Contains(t, "qualification"):
		return 40
	case t == "fifa world cup":
		return 60
	case t == "friendly":
		return 20
	}
	for _, major := range []string{"uefa euro", "copa américa", "african cup of nations", "afc asian cup",
		"gold cup", "confederations cup", "oceania nations cup"} {
		if t == major {
			return 50
		}
	}
	return 40
}

// eloGoalFactor scales the update by the margin of victory (eloratings.net).
func eloGoalFactor(gd int32) float64 {
	if gd < 0 {
		gd = -gd
	}
	switch {
	case gd <= 1:
		return 1
	case gd == 2:
		return 1.5
	default:
		return (11 + float64(gd)) / 8
	}
}

// EloExpected is the expected score (win 1, draw ½) of a team rated diff
// points above its opponent.
func EloExpected(diff float64) float64 {
	return 1 / (1 + math.Pow(10, -diff/400))
}

// BuildLookup builds the lookup from the match history. Rows may come in any
// order; they are processed day by day. Within a day, every team's pre-match
// attributes are updated first, then the day's results update form, Elo and
// head-to-head, so nothing a day's results reveal is visible as of that day.
func BuildLookup(rows []ingest.MatchRow) (*Lookup, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("build lookup: no matches")
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rows[order[a]].Date < rows[order[b]].Date })

	lk := &Lookup{
		Schema: LookupSchema, Teams: map[string][]TeamEntry{}, H2H: map[string][]Meeting{},
		FirstDate: rows[order[0]].Date, LastDate: rows[order[len(order)-1]].Date, Matches: len(rows),
	}
	type recent struct{ points, gd []float64 }
	history := map[string]*recent{}

	for start := 0; start < len(order); {
		day := rows[order[start]].Date
		end := start
		for end < len(order) && rows[order[end]].Date == day {
			end++
		}
		dayRows := order[start:end]
		start = end

		// Pre-match attributes, and the form before the day for Elo.
		before := map[string]Form{}
		for _, i := range dayRows {
			r := &rows[i]
			if r.HomeTeam == r.AwayTeam {
				return nil, fmt.Errorf("build lookup: %s plays itself on %s", r.HomeTeam, r.Date)
			}
			for _, side := range []struct {
				team, continent string
				rank, points    int32
				squad           Squad
			}{
				{r.HomeTeam, r.HomeTeamContinent, r.HomeTeamFIFARank, r.HomeTeamTotalFIFAPoints,
					Squad{r.HomeTeamGoalkeeperScore, r.HomeTeamMeanDefenseScore, r.HomeTeamMeanMidfieldScore, r.HomeTeamMeanOffenseScore}},
				{r.AwayTeam, r.AwayTeamContinent, r.AwayTeamFIFARank, r.AwayTeamTotalFIFAPoints,
					Squad{r.AwayTeamGoalkeeperScore, r.AwayTeamMeanDefenseScore, r.AwayTeamMeanMidfieldScore, r.AwayTeamMeanOffenseScore}},
			} {
				entries := lk.Teams[side.team]
				var prev TeamEntry
				if n := len(entries); n > 0 {
					prev = entries[n-1]
				} else {
					prev.After = Form{Elo: EloStart}
				}
				if _, seen := before[side.team]; !seen {
					before[side.team] = prev.After
					entries = append(entries, TeamEntry{Date: day, Squad: prev.Squad, After: prev.After})
				}
				e := &entries[len(entries)-1]
				e.Continent, e.Rank, e.Points = side.continent, side.rank, side.points
				e.Squad = mergeSquad(e.Squad, side.squad)
				lk.Teams[side.team] = entries
			}
		}

		// Results: Elo deltas from the ratings before the day, form and
		// head-to-head in row order.
		for _, i := range dayRows {
			r := &rows[i]
			home, away := before[r.HomeTeam], before[r.AwayTeam]
			diff := home.Elo - away.Elo
			if !r.NeutralLocation {
				diff += EloHomeAdvantage
			}
			gd := r.HomeTeamScore - r.AwayTeamScore
			score := 0.5
			if gd > 0 {
				score = 1
			} else if gd < 0 {
				score = 0
			}
			delta := EloK(r.Tournament) * eloGoalFactor(gd) * (score - EloExpected(diff))
			he := &lk.Teams[r.HomeTeam][len(lk.Teams[r.HomeTeam])-1]
			ae := &lk.Teams[r.AwayTeam][len(lk.Teams[r.AwayTeam])-1]
			he.After.Elo += delta
			ae.After.Elo -= delta

			for _, s := range []struct {
				team string
				gd   int32
				e    *TeamEntry
			}{{r.HomeTeam, gd, he}, {r.AwayTeam, -gd, ae}} {
				h := history[s.team]
				if h == nil {
					h = &recent{}
					history[s.team] = h
				}
				h.points = appendWindow(h.points, matchPoints(s.gd), FormWindow)
				h.gd = appendWindow(h.gd, float64(s.gd), FormWindow)
				s.e.After.Played++
				s.e.After.Points = mean(h.points)
				s.e.After.GoalDiff = mean(h.gd)
			}

			key := PairKey(r.HomeTeam, r.AwayTeam)
			pairGD := gd
			if r.HomeTeam > r.AwayTeam {
				pairGD = -gd
			}
			lk.H2H[key] = append(lk.H2H[key], Meeting{Date: day, GoalDiff: pairGD})
		}
	}
	return lk, nil
}

func mergeSquad(old, update Squad) Squad {
	pick := func(o, u *float64) *float64 {
		if u != nil {
			v := *u
			return &v
		}
		return o
	}
	return Squad{pick(old.Goalkeeper, update.Goalkeeper), pick(old.Defense, update.Defense),
		pick(old.Midfield, update.Midfield), pick(old.Offense, update.Offense)}
}

func matchPoints(gd int32) float64 {
	switch {
	case gd > 0:
		return 3
	case gd == 0:
		return 1
	}
	return 0
}

func appendWindow(w []float64, v float64, n int) []float64 {
	w = append(w, v)
	if len(w) > n {
		copy(w, w[1:])
		w = w[:n]
	}
	return w
}

// mean sums in order, so that the same values always give the same bits.
func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// Team returns team's state as of day (before that day's matches): the
// pre-match attributes of its latest entry on or before day, and its form
// after its latest match strictly before day. ok is false when the team has no
// entry on or before day.
func (lk *Lookup) Team(team string, day ingest.Date) (TeamState, bool) {
	entries := lk.Teams[team]
	i := sort.Search(len(entries), func(i int) bool { return entries[i].Date > day }) - 1
	if i < 0 {
		return TeamState{}, false
	}
	e := &entries[i]
	st := TeamState{Team: team, Continent: e.Continent, Rank: e.Rank, Points: e.Points, Squad: e.Squad, Since: e.Date}
	switch {
	case e.Date < day:
		st.Form = e.After
	case i > 0:
		st.Form = entries[i-1].After
	default:
		st.Form = Form{Elo: EloStart}
	}
	return st, true
}

// HeadToHead summarises the last H2HWindow meetings of home and away strictly
// before day, from home's point of view: the number of all earlier meetings,
// the mean score (win 1, draw ½, loss 0; ½ without meetings) and the mean goal
// difference (0 without meetings).
func (lk *Lookup) HeadToHead(home, away string, day ingest.Date) (played int, score, goalDiff float64) {
	ms := lk.H2H[PairKey(home, away)]
	n := sort.Search(len(ms), func(i int) bool { return ms[i].Date >= day })
	if n == 0 {
		return 0, 0.5, 0
	}
	sign := int32(1)
	if home > away {
		sign = -1
	}
	from := max(0, n-H2HWindow)
	var s, g float64
	for _, m := range ms[from:n] {
		gd := sign * m.GoalDiff
		g += float64(gd)
		switch {
		case gd > 0:
			s++
		case gd == 0:
			s += 0.5
		}
	}
	k := float64(n - from)
	return n, s / k, g / k
}

// TeamNames lists the teams in the lookup, sorted.
func (lk *Lookup) TeamNames() []string {
	names := make([]string, 0, len(lk.Teams))
	for t := range lk.Teams {
		names = append(names, t)
	}
	sort.Strings(names)
	return names
}

// Validate checks a loaded lookup's schema and ordering invariants.
func (lk *Lookup) Validate() error {
	if lk.Schema != LookupSchema {
		return fmt.Errorf("lookup schema %q, want %q (rebuild with `datalab features matches`)", lk.Schema, LookupSchema)
	}
	if len(lk.Teams) == 0 {
		return fmt.Errorf("lookup has no teams")
	}
	for t, es := range lk.Teams {
		for i := 1; i < len(es); i++ {
			if es[i].Date <= es[i-1].Date {
				return fmt.Errorf("lookup team %q: entries not in strictly increasing date order at %d", t, i)
			}
		}
	}
	for k, ms := range lk.H2H {
		for i := 1; i < len(ms); i++ {
			if ms[i].Date < ms[i-1].Date {
				return fmt.Errorf("lookup pair %q: meetings out of date order at %d", k, i)
			}
		}
	}
	return nil
}
