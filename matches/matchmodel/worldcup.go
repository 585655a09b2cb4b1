package matchmodel

import (
	"encoding/csv"
	"fmt"
	"os"
	"sort"

	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// World Cup 2022: the tournament's dates and the day its features are taken.
var (
	WorldCupStart = ingest.NewDate(2022, 11, 20)
	WorldCupEnd   = ingest.NewDate(2022, 12, 18)
)

// WorldCupMatchCount is the number of matches of the 2022 World Cup.
const WorldCupMatchCount = 64

// ReadWorldCupTeams reads the 32 teams of the worldcup2022 groups file
// (Group,Team,FIFA Ranking) and returns them in the training spelling,
// sorted. A team the lookup does not know fails the call.
func ReadWorldCupTeams(path string, lk *matchfeat.Lookup) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run `datalab data pull worldcup2022`)", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 || len(recs[0]) < 2 || recs[0][1] != "Team" {
		return nil, fmt.Errorf("%s: want a header Group,Team,…", path)
	}
	var teams []string
	for i, r := range recs[1:] {
		t, err := lk.CanonicalTeam(r[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+2, err)
		}
		teams = append(teams, t)
	}
	sort.Strings(teams)
	if len(teams) != 32 {
		return nil, fmt.Errorf("%s: %d teams, want 32", path, len(teams))
	}
	return teams, nil
}

// WorldCupMatch is one real match of the 2022 World Cup (martj42 results),
// with the teams in the training spelling.
type WorldCupMatch struct {
	Date      ingest.Date `json:"date"`
	Home      string      `json:"home"`
	Away      string      `json:"away"`
	HomeGoals int32       `json:"home_goals"`
	AwayGoals int32       `json:"away_goals"`
	Neutral   bool        `json:"neutral"`
}

// WorldCupMatches selects the 64 matches of the 2022 World Cup from the
// martj42 results (tournament "FIFA World Cup", 2022-11-20 … 2022-12-18) and
// maps the team names to the training spelling. The scores are after 90 or
// 120 minutes; a shoot-out does not change them. Any unmapped team, missing
// score or a count other than 64 is an error.
func WorldCupMatches(results []ingest.ResultRow, lk *matchfeat.Lookup) ([]WorldCupMatch, error) {
	var out []WorldCupMatch
	for _, r := range results {
		if r.Tournament != "FIFA World Cup" || r.Date < WorldCupStart || r.Date > WorldCupEnd {
			continue
		}
		if r.HomeScore == nil || r.AwayScore == nil {
			return nil, fmt.Errorf("World Cup match %s %s vs %s has no score", r.Date, r.HomeTeam, r.AwayTeam)
		}
		h, err := lk.CanonicalTeam(r.HomeTeam)
		if err != nil {
			return nil, fmt.Errorf("World Cup match %s: %w", r.Date, err)
		}
		a, err := lk.CanonicalTeam(r.AwayTeam)
		if err != nil {
			return nil, fmt.Errorf("World Cup match %s: %w", r.Date, err)
		}
		out = append(out, WorldCupMatch{Date: r.Date, Home: h, Away: a, HomeGoals: *r.HomeScore, AwayGoals: *r.AwayScore, Neutral: r.Neutral})
	}
	if len(out) != WorldCupMatchCount {
		return nil, fmt.Errorf("found %d World Cup 2022 matches in the results, want %d", len(out), WorldCupMatchCount)
	}
	return out, nil
}
