package evaluate

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkClassification scores 1M rows of 4-class forest-like
// probabilities (50 votes per row, so scores tie as a forest's do).
func BenchmarkClassification(b *testing.B) {
	fx := randomFixture(rand.New(rand.NewPCG(1, 2)), 1_000_000, 4, 50)
	classes := []string{"early", "on time", "late", "very late"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Classification(classes, fx.YTrue, fx.Proba); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassificationContinuous is the worst case for the ROC curves:
// 1M binary rows with almost all scores distinct.
func BenchmarkClassificationContinuous(b *testing.B) {
	fx := randomFixture(rand.New(rand.NewPCG(1, 2)), 1_000_000, 2, 0)
	classes := []string{"lose", "win"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Classification(classes, fx.YTrue, fx.Proba); err != nil {
			b.Fatal(err)
		}
	}
}
