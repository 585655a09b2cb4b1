package forest_test

import (
	"context"
	"fmt"

	"github.com/datalabhq/datalab/pipeline/forest"
)

// A single tree on all rows and features finds the split that separates
// the classes; the threshold is the midpoint between the feature values.
func ExampleFit() {
	distance := []float64{150, 300, 450, 1200, 1500, 2100}
	hour := []float64{7, 19, 8, 20, 9, 21}
	late := []float64{0, 0, 0, 1, 1, 1}

	p := forest.DefaultParams()
	p.NumTrees = 1
	p.Bootstrap = false
	m, err := forest.Fit(context.Background(), [][]float64{distance, hour}, late, p)
	if err != nil {
		fmt.Println(err)
		return
	}
	root := m.Trees[0].Nodes[0]
	fmt.Printf("split feature %d at %v, gain %v\n", root.Feature, root.Threshold, root.Gain)
	class, proba := m.Predict([]float64{1000, 12})
	fmt.Println(class, proba)
	fmt.Println(m.FeatureImportances())
	// Output:
	// split feature 0 at 825, gain 0.5
	// 1 [0 1]
	// [1 0]
}
