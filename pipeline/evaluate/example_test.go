package evaluate_test

import (
	"fmt"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

func ExampleClassification() {
	classes := []string{"lose", "win"}
	yTrue := []int{0, 0, 1, 1}
	proba := [][]float64{{0.9, 0.1}, {0.6, 0.4}, {0.65, 0.35}, {0.2, 0.8}}
	r, err := evaluate.Classification(classes, yTrue, proba)
	if err != nil {
		panic(err)
	}
	fmt.Printf("accuracy %.2f, balanced %.2f, AUC %.2f, log loss %.4f\n", r.Accuracy, r.BalancedAccuracy, r.AUC, r.LogLoss)
	fmt.Println("confusion [true][predicted]:", r.Confusion)
	// Output:
	// accuracy 0.75, balanced 0.75, AUC 0.75, log loss 0.4723
	// confusion [true][predicted]: [[2 0] [1 1]]
}

func ExampleFromPredictions() {
	// "The better-ranked team wins" as a hard-prediction baseline.
	r, err := evaluate.FromPredictions([]string{"lose", "win"}, []int{0, 1, 1, 0}, []int{0, 1, 0, 0})
	if err != nil {
		panic(err)
	}
	fmt.Printf("accuracy %.2f, Brier %.2f (2 × error rate)\n", r.Accuracy, r.Brier)
	// Output:
	// accuracy 0.75, Brier 0.50 (2 × error rate)
}
