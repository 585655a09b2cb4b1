package drift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// population describes the synthetic traffic of the tests and benchmarks:
// ten features of the shapes served features have (continuous, skewed,
// discrete, binary, with missing values, categorical with few and many
// categories) and a predicted class. Tests change one field to shift one
// feature.
type population struct {
	ageMean     float64   // normal, sd 5
	newTourneys float64   // share of rows whose tournament is one the reference never has
	classes     []float64 // weights of the predicted classes home, draw, away
}

func basePopulation() population {
	return population{ageMean: 30, classes: []float64{0.5, 0.25, 0.25}}
}

// featureNames are the columns draw returns, in order.
var featureNames = []string{"age", "income", "rank_diff", "goals", "neutral", "elo", "score", "team", "tournament", "airport"}

var (
	teams       = names("team", 40)
	airports    = names("airport", 300)
	tournaments = []string{"Friendly", "World Cup", "Euro", "Copa América", "Qualifier"}
	classNames  = []string{"home", "draw", "away"}
	teamCDF     = zipfCDF(len(teams))
	airportCDF  = zipfCDF(len(airports))
	tourneyCDF  = weightsCDF([]float64{0.4, 0.1, 0.1, 0.1, 0.3})
)

// draw returns n rows of the population, seeded.
func (p population) draw(seed uint64, n int) Sample {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	age, income, rankDiff, goals, neutral, elo, score := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	team, tourney, airport, pred := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	classCDF := weightsCDF(p.classes)
	for i := range n {
		age[i] = p.ageMean + 5*rng.NormFloat64()
		income[i] = math.Exp(10 + 0.5*rng.NormFloat64())
		rankDiff[i] = float64(rng.IntN(101) - 50)
		goals[i] = float64(poisson(rng, 1.4))
		if rng.Float64() < 0.3 {
			neutral[i] = 1
		}
		elo[i] = 1500 + 200*rng.NormFloat64()
		if rng.Float64() < 0.05 {
			elo[i] = math.NaN()
		}
		score[i] = rng.Float64()
		team[i] = teams[pick(rng, teamCDF)]
		airport[i] = airports[pick(rng, airportCDF)]
		switch u := rng.Float64(); {
		case u < 0.02:
			tourney[i] = "" // missing
		case u < 0.02+p.newTourneys:
			tourney[i] = fmt.Sprintf("New Cup %d", rng.IntN(7))
		default:
			tourney[i] = tournaments[pick(rng, tourneyCDF)]
		}
		pred[i] = classNames[pick(rng, classCDF)]
	}
	return Sample{
		Columns: []Column{
			NumericColumn("age", age), NumericColumn("income", income), NumericColumn("rank_diff", rankDiff),
			NumericColumn("goals", goals), NumericColumn("neutral", neutral), NumericColumn("elo", elo), NumericColumn("score", score),
			CategoricalColumn("team", team), CategoricalColumn("tournament", tourney), CategoricalColumn("airport", airport),
		},
		Predicted: pred,
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// zipfCDF is the cumulative distribution of weights 1/1, 1/2, … 1/n.
func zipfCDF(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / float64(i+1)
	}
	return weightsCDF(w)
}

func weightsCDF(w []float64) []float64 {
	total := 0.0
	for _, v := range w {
		total += v
	}
	cdf := make([]float64, len(w))
	acc := 0.0
	for i, v := range w {
		acc += v / total
		cdf[i] = acc
	}
	cdf[len(cdf)-1] = 1
	return cdf
}

func pick(rng *rand.Rand, cdf []float64) int {
	return min(sort.SearchFloat64s(cdf, rng.Float64()), len(cdf)-1)
}

func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
