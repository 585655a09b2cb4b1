package ingest

import "context"

// MatchRow is one international match of the Kaggle FIFA World Cup 2022 data
// set (international_matches.csv), the training data of the match-winner
// model. Column names are the source's. The EA squad scores exist only for
// recent matches: they are null (never 0) where the source cell is empty.
// FIFA points are kept as published: 0 before the points system (~2011).
type MatchRow struct {
	Date                      Date     `parquet:"date,date"`
	HomeTeam                  string   `parquet:"home_team,dict"`
	AwayTeam                  string   `parquet:"away_team,dict"`
	HomeTeamContinent         string   `parquet:"home_team_continent,dict"`
	AwayTeamContinent         string   `parquet:"away_team_continent,dict"`
	HomeTeamFIFARank          int32    `parquet:"home_team_fifa_rank"`
	AwayTeamFIFARank          int32    `parquet:"away_team_fifa_rank"`
	HomeTeamTotalFIFAPoints   int32    `parquet:"home_team_total_fifa_points"`
	AwayTeamTotalFIFAPoints   int32    `parquet:"away_team_total_fifa_points"`
	HomeTeamScore             int32    `parquet:"home_team_score"`
	AwayTeamScore             int32    `parquet:"away_team_score"`
	Tournament                string   `parquet:"tournament,dict"`
	City                      string   `parquet:"city,dict"`
	Country                   string   `parquet:"country,dict"`
	NeutralLocation           bool     `parquet:"neutral_location"`
	ShootOut                  bool     `parquet:"shoot_out"`
	HomeTeamResult            string   `parquet:"home_team_result,dict"` // Win, Lose or Draw
	HomeTeamGoalkeeperScore   *float64 `parquet:"home_team_goalkeeper_score"`
	AwayTeamGoalkeeperScore   *float64 `parquet:"away_team_goalkeeper_score"`
	HomeTeamMeanDefenseScore  *float64 `parquet:"home_team_mean_defense_score"`
	HomeTeamMeanOffenseScore  *float64 `parquet:"home_team_mean_offense_score"`
	HomeTeamMeanMidfieldScore *float64 `parquet:"home_team_mean_midfield_score"`
	AwayTeamMeanDefenseScore  *float64 `parquet:"away_team_mean_defense_score"`
	AwayTeamMeanOffenseScore  *float64 `parquet:"away_team_mean_offense_score"`
	AwayTeamMeanMidfieldScore *float64 `parquet:"away_team_mean_midfield_score"`
}

// MatchesSchema names the layout of the matches Parquet file (key
// SchemaMetadataKey).
const MatchesSchema = "datalab.matches/v1"

// matchesHeader is the exact header of international_matches.csv.
var matchesHeader = []string{
	"date", "home_team", "away_team", "home_team_continent", "away_team_continent",
	"home_team_fifa_rank", "away_team_fifa_rank", "home_team_total_fifa_points",
	"away_team_total_fifa_points", "home_team_score", "away_team_score", "tournament", "city",
	"country", "neutral_location", "shoot_out", "home_team_result", "home_team_goalkeeper_score",
	"away_team_goalkeeper_score", "home_team_mean_defense_score", "home_team_mean_offense_score",
	"home_team_mean_midfield_score", "away_team_mean_defense_score", "away_team_mean_offense_score",
	"away_team_mean_midfield_score",
}

func parseMatchFields(f [][]byte) (MatchRow, *rowError) {
	var m MatchRow
	var e *rowError
	if len(f) != len(matchesHeader) {
		return m, rejectf(ReasonWrongColumnCount, "%d columns, want %d", len(f), len(matchesHeader))
	}
	if m.Date, e = parseDate("date", f[0]); e != nil {
		return m, e
	}
	texts := []struct {
		dst *string
		i   int
	}{{&m.HomeTeam, 1}, {&m.AwayTeam, 2}, {&m.HomeTeamContinent, 3}, {&m.AwayTeamContinent, 4},
		{&m.Tournament, 11}, {&m.City, 12}, {&m.Country, 13}, {&m.HomeTeamResult, 16}}
	for _, t := range texts {
		if *t.dst, e = requireText(matchesHeader[t.i], f[t.i]); e != nil {
			return m, e
		}
	}
	ints := []struct {
		dst *int32
		i   int
	}{{&m.HomeTeamFIFARank, 5}, {&m.AwayTeamFIFARank, 6}, {&m.HomeTeamTotalFIFAPoints, 7},
		{&m.AwayTeamTotalFIFAPoints, 8}, {&m.HomeTeamScore, 9}, {&m.AwayTeamScore, 10}}
	for _, t := range ints {
		if *t.dst, e = parseInt32(matchesHeader[t.i], f[t.i]); e != nil {
			return m, e
		}
	}
	if m.NeutralLocation, e = parseBool("neutral_location", f[14]); e != nil {
		return m, e
	}
	if m.ShootOut, e = parseBool("shoot_out", f[15]); e != nil {
		return m, e
	}
	switch m.HomeTeamResult {
	case "Win", "Lose", "Draw":
	default:
		return m, rejectf(ReasonBadValue, "column home_team_result: %q is not Win, Lose or Draw", m.HomeTeamResult)
	}
	floats := []**float64{&m.HomeTeamGoalkeeperScore, &m.AwayTeamGoalkeeperScore,
		&m.HomeTeamMeanDefenseScore, &m.HomeTeamMeanOffenseScore, &m.HomeTeamMeanMidfieldScore,
		&m.AwayTeamMeanDefenseScore, &m.AwayTeamMeanOffenseScore, &m.AwayTeamMeanMidfieldScore}
	for k, dst := range floats {
		if *dst, e = parseOptionalFloat(matchesHeader[17+k], f[17+k]); e != nil {
			return m, e
		}
	}
	return m, nil
}

func runMatches(ctx context.Context, r *runner) error {
	sink, err := openSink[MatchRow](r, MatchesSchema)
	if err != nil {
		return err
	}
	return ingestLines(ctx, r, sink, r.openPlain, csvFraming, func(file string, lr *lineReader) (lineParser[MatchRow], error) {
		if err := expectHeader(lr, matchesHeader); err != nil {
			return nil, err
		}
		return csvRows(len(matchesHeader), parseMatchFields), nil
	})
}
