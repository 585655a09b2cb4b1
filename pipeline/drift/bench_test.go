package drift

import (
	"testing"
)

// benchRows is the size of the current sample of the benchmarks: a
// monitor run over 1M logged predictions.
const benchRows = 1_000_000

// BenchmarkCompare compares 1M current rows of ten features (seven
// numeric, three categorical with 5, 40 and 300 categories) and the
// predicted classes with a reference built beforehand from 200k rows.
// ns/row is per current row, all features included.
func BenchmarkCompare(b *testing.B) {
	ref, err := NewReference(basePopulation().draw(1, 200_000), Options{})
	if err != nil {
		b.Fatal(err)
	}
	cur := basePopulation().draw(2, benchRows)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ref.Compare(cur); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
}

// BenchmarkCompareWithReference is the whole of Compare with 1M reference
// and 1M current rows: binning the reference (sorting each numeric column)
// included.
func BenchmarkCompareWithReference(b *testing.B) {
	ref := basePopulation().draw(1, benchRows)
	cur := basePopulation().draw(2, benchRows)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compare(ref, cur, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
}
