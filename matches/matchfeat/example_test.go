package matchfeat_test

import (
	"fmt"

	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// The features of a match come from the lookup as of its day: the day's
// published ranks, and results strictly before it.
func Example() {
	rows := []ingest.MatchRow{
		{Date: ingest.NewDate(2022, 6, 1), HomeTeam: "Wales", AwayTeam: "Ukraine", HomeTeamContinent: "Europe", AwayTeamContinent: "Europe",
			HomeTeamFIFARank: 18, AwayTeamFIFARank: 27, HomeTeamScore: 1, AwayTeamScore: 0, Tournament: "FIFA World Cup qualification"},
		{Date: ingest.NewDate(2022, 6, 5), HomeTeam: "Ukraine", AwayTeam: "Wales", HomeTeamContinent: "Europe", AwayTeamContinent: "Europe",
			HomeTeamFIFARank: 27, AwayTeamFIFARank: 18, HomeTeamScore: 1, AwayTeamScore: 1, Tournament: "Friendly", NeutralLocation: true},
	}
	lk, err := matchfeat.BuildLookup(rows)
	if err != nil {
		panic(err)
	}
	for _, day := range []ingest.Date{ingest.NewDate(2022, 6, 1), ingest.NewDate(2022, 6, 5), ingest.NewDate(2022, 6, 6)} {
		f, err := lk.Features("Wales", "Ukraine", true, day)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: Wales rank %d, Elo %.1f, played %d; head-to-head %d, score %.2f\n",
			day, f.Home.Rank, f.Home.Form.Elo, f.Home.Form.Played, f.H2HPlayed, f.H2HScore)
	}
	// Output:
	// 2022-06-01: Wales rank 18, Elo 1500.0, played 0; head-to-head 0, score 0.50
	// 2022-06-05: Wales rank 18, Elo 1514.4, played 1; head-to-head 1, score 1.00
	// 2022-06-06: Wales rank 18, Elo 1513.6, played 2; head-to-head 2, score 0.75
}
