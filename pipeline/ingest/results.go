package ingest

import "context"

// ResultRow is one match of the martj42 international results data set
// (results.csv, 1872 onwards, CC0). Scores are null for fixtures not yet
// played (the source writes NA).
type ResultRow struct {
	Date       Date   `parquet:"date,date"`
	HomeTeam   string `parquet:"home_team,dict"`
	AwayTeam   string `parquet:"away_team,dict"`
	HomeScore  *int32 `parquet:"home_score"`
	AwayScore  *int32 `parquet:"away_score"`
	Tournament string `parquet:"tournament,dict"`
	City       string `parquet:"city,dict"`
	Country    string `parquet:"country,dict"`
	Neutral    bool   `parquet:"neutral"`
}

// ResultsSchema names the layout of the martj42 Parquet file.
const ResultsSchema = "datalab.martj42_results/v1"

var resultsHeader = []string{"date", "home_team", "away_team", "home_score", "away_score", "tournament", "city", "country", "neutral"}

func parseResultFields(f [][]byte) (ResultRow, *rowError) {
	var m ResultRow
	var e *rowError
	if len(f) != len(resultsHeader) {
		return m, rejectf(ReasonWrongColumnCount, "%d columns, want %d", len(f), len(resultsHeader))
	}
	if m.Date, e = parseDate("date", f[0]); e != nil {
		return m, e
	}
	for _, t := range []struct {
		dst *string
		i   int
	}{{&m.HomeTeam, 1}, {&m.AwayTeam, 2}, {&m.Tournament, 5}, {&m.City, 6}, {&m.Country, 7}} {
		if *t.dst, e = requireText(resultsHeader[t.i], f[t.i]); e != nil {
			return m, e
		}
	}
	if m.HomeScore, e = parseOptionalInt32("home_score", f[3]); e != nil {
		return m, e
	}
	if m.AwayScore, e = parseOptionalInt32("away_score", f[4]); e != nil {
		return m, e
	}
	if (m.HomeScore == nil) != (m.AwayScore == nil) {
		return m, rejectf(ReasonInconsistent, "only one of home_score and away_score is given")
	}
	if m.Neutral, e = parseBool("neutral", f[8]); e != nil {
		return m, e
	}
	return m, nil
}

func runResults(ctx context.Context, r *runner) error {
	sink, err := openSink[ResultRow](r, ResultsSchema)
	if err != nil {
		return err
	}
	return ingestLines(ctx, r, sink, r.openPlain, csvFraming, func(file string, lr *lineReader) (lineParser[ResultRow], error) {
		if err := expectHeader(lr, resultsHeader); err != nil {
			return nil, err
		}
		return csvRows(len(resultsHeader), parseResultFields), nil
	})
}
