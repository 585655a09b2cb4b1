package drift_test

import (
	"fmt"

	"github.com/datalabhq/datalab/pipeline/drift"
)

func Example() {
	// The training data of the served model, and the requests it served.
	ref := drift.Sample{
		Columns: []drift.Column{
			drift.NumericColumn("rank_diff", []float64{-12, -3, 0, 4, 8, 15, 21, 30}),
			drift.CategoricalColumn("tournament", []string{"Friendly", "Friendly", "Euro", "Friendly", "Euro", "Friendly", "World Cup", "Friendly"}),
		},
		Predicted: []string{"home", "home", "draw", "away", "home", "home", "away", "home"},
	}
	cur := drift.Sample{
		Columns: []drift.Column{
			drift.NumericColumn("rank_diff", []float64{35, 41, 2, 28, 50, 33, 19, 44}),
			drift.CategoricalColumn("tournament", []string{"Friendly", "Euro", "Friendly", "Friendly", "Nations League", "Friendly", "Euro", "Friendly"}),
		},
		Predicted: []string{"home", "home", "away", "home", "home", "draw", "home", "away"},
	}
	res, err := drift.Compare(ref, cur, drift.Options{Bins: 4, MinRows: 8})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Summary())
	for _, f := range res.Features {
		fmt.Printf("%s: PSI %.3f, %s\n", f.Name, f.PSI, f.Status)
	}
	for _, a := range res.Alerts() {
		fmt.Println(a)
	}
	// Output:
	// drift: 8 current rows against 8 reference rows; drift in rank_diff, tournament
	// rank_diff: PSI 4.780, drift
	// tournament: PSI 1.781, drift
	// rank_diff: PSI 4.7801 ≥ alert threshold 0.2500
	// tournament: PSI 1.7813 ≥ alert threshold 0.2500
	// tournament: 12.5% of current rows have a category the reference never has (alert threshold 5.0%)
}
