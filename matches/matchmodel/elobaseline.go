package matchmodel

import (
	"fmt"
	"math"

	"github.com/datalabhq/datalab/matches/matchfeat"
)

// EloLogitName is the Elo baseline's name in metrics.json and the report.
const EloLogitName = "Elo ordered logit"

// EloLogit is the Elo baseline: an ordered logit on the Elo difference with
// a home-advantage term, the textbook statistical model for three-way
// football results (outcomes ordered away win < draw < home win).
//
//	s = Beta·(home Elo − away Elo)/100 + Home·[not neutral]
//	P(away win) = σ(Cut1 − s)
//	P(draw)     = σ(Cut2 − s) − σ(Cut1 − s)
//	P(home win) = 1 − σ(Cut2 − s)
//
// The Elo ratings are the lookup's, as of the match day (results strictly
// before it), so the baseline sees exactly what the forests see.
type EloLogit struct {
	Beta float64 `json:"beta"`
	Home float64 `json:"home"`
	Cut1 float64 `json:"cut1"`
	Cut2 float64 `json:"cut2"`
	// Rows is the number of matches the model was fitted on.
	Rows int `json:"rows"`
	// LogLik is the fitted log-likelihood.
	LogLik float64 `json:"log_lik"`
}

// eloRow is one match for the logit: scaled Elo difference, home flag and
// the ordered outcome (0 away win, 1 draw, 2 home win).
type eloRow struct {
	x, h float64
	y    int
}

func eloInputs(f *matchfeat.Features) (x, h float64) {
	x = (f.Home.Form.Elo - f.Away.Form.Elo) / 100
	if !f.Neutral {
		h = 1
	}
	return x, h
}

// FitEloLogit fits the ordered logit by maximum likelihood (Newton's method
// with step halving; the log-likelihood is concave) on the rows idx of d —
// the training years only.
func FitEloLogit(d *Data, idx []int) (*EloLogit, error) {
	if len(idx) == 0 {
		return nil, fmt.Errorf("Elo logit: no training rows")
	}
	rows := make([]eloRow, len(idx))
	n := [3]int{}
	for k, i := range idx {
		r := &d.Rows[i]
		x, h := eloInputs(&r.Features)
		y := 1
		switch hg, ag := r.Match.HomeTeamScore, r.Match.AwayTeamScore; {
		case hg > ag:
			y = 2
		case hg < ag:
			y = 0
		}
		rows[k] = eloRow{x, h, y}
		n[y]++
	}
	for y, c := range n {
		if c == 0 {
			return nil, fmt.Errorf("Elo logit: no training match with outcome %d (away win, draw, home win); the ordered logit needs all three", y)
		}
	}
	// Start from the class frequencies with no slope.
	total := float64(len(rows))
	th := [4]float64{0, 0, logit(float64(n[0]) / total), logit(float64(n[0]+n[1]) / total)}
	ll := eloLogLik(rows, th)
	for iter := 0; iter < 100; iter++ {
		g := eloGradient(rows, th)
		hess := eloHessian(rows, th)
		step, err := solve4(hess, g)
		if err != nil {
			return nil, fmt.Errorf("Elo logit: %w", err)
		}
		t := 1.0
		var next [4]float64
		var nll float64
		for {
			for j := range th {
				next[j] = th[j] - t*step[j]
			}
			if next[2] < next[3] {
				if nll = eloLogLik(rows, next); nll >= ll {
					break
				}
			}
			if t /= 2; t < 1e-12 {
				return nil, fmt.Errorf("Elo logit: no ascent step at iteration %d", iter)
			}
		}
		gain := nll - ll
		th, ll = next, nll
		if gain < 1e-10 {
			break
		}
	}
	return &EloLogit{Beta: th[0], Home: th[1], Cut1: th[2], Cut2: th[3], Rows: len(rows), LogLik: ll}, nil
}

// Proba returns the three-way probabilities of a match in the order of
// matchfeat.ThreeClasses: home win, draw, away win.
func (e *EloLogit) Proba(f *matchfeat.Features) []float64 {
	x, h := eloInputs(f)
	p := eloProba([4]float64{e.Beta, e.Home, e.Cut1, e.Cut2}, x, h)
	return []float64{p[2], p[1], p[0]}
}

// Describe states the fitted model for the report.
func (e *EloLogit) Describe() string {
	return fmt.Sprintf("ordered logit on Elo difference/100 (β %.4f) and home advantage (%.4f, 0 on neutral ground), cut points %.4f and %.4f; fitted on %d training matches",
		e.Beta, e.Home, e.Cut1, e.Cut2, e.Rows)
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

// eloProba is P(away win), P(draw), P(home win) for parameters th = (β, γ,
// cut1, cut2).
func eloProba(th [4]float64, x, h float64) [3]float64 {
	s := th[0]*x + th[1]*h
	a, b := sigmoid(th[2]-s), sigmoid(th[3]-s)
	return [3]float64{a, b - a, 1 - b}
}

func eloLogLik(rows []eloRow, th [4]float64) float64 {
	ll := 0.0
	for _, r := range rows {
		ll += math.Log(max(eloProba(th, r.x, r.h)[r.y], 1e-300))
	}
	return ll
}

// eloGradient is the gradient of the log-likelihood. For an outcome with
// cumulative bounds F(u), F(l) (u = cut_y − s, l = cut_{y−1} − s; F(+∞) =
// 1, F(−∞) = 0) and f = F(1 − F): ∂/∂cut_y = f(u)/P, ∂/∂cut_{y−1} =
// −f(l)/P, ∂/∂s = −(f(u) − f(l))/P.
func eloGradient(rows []eloRow, th [4]float64) [4]float64 {
	var g [4]float64
	for _, r := range rows {
		s := th[0]*r.x + th[1]*r.h
		var fu, fl, pu, pl float64 = 0, 0, 1, 0
		if r.y < 2 {
			pu = sigmoid(th[2+r.y] - s)
			fu = pu * (1 - pu)
		}
		if r.y > 0 {
			pl = sigmoid(th[1+r.y] - s)
			fl = pl * (1 - pl)
		}
		p := max(pu-pl, 1e-300)
		ds := -(fu - fl) / p
		g[0] += ds * r.x
		g[1] += ds * r.h
		if r.y < 2 {
			g[2+r.y] += fu / p
		}
		if r.y > 0 {
			g[1+r.y] -= fl / p
		}
	}
	return g
}

// eloHessian differentiates the analytic gradient numerically (central
// differences): four parameters, so eight gradient passes.
func eloHessian(rows []eloRow, th [4]float64) [4][4]float64 {
	var hs [4][4]float64
	const eps = 1e-5
	for j := range th {
		up, down := th, th
		up[j] += eps
		down[j] -= eps
		gu, gd := eloGradient(rows, up), eloGradient(rows, down)
		for i := range th {
			hs[i][j] = (gu[i] - gd[i]) / (2 * eps)
		}
	}
	for i := range hs { // symmetrise the rounding
		for j := i + 1; j < 4; j++ {
			m := (hs[i][j] + hs[j][i]) / 2
			hs[i][j], hs[j][i] = m, m
		}
	}
	return hs
}

// solve4 solves a·x = b by Gaussian elimination with partial pivoting.
func solve4(a [4][4]float64, b [4]float64) ([4]float64, error) {
	for c := 0; c < 4; c++ {
		p := c
		for r := c + 1; r < 4; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-12 {
			return b, fmt.Errorf("singular Hessian (is every training match on neutral ground, or every Elo difference 0?)")
		}
		a[c], a[p] = a[p], a[c]
		b[c], b[p] = b[p], b[c]
		for r := c + 1; r < 4; r++ {
			f := a[r][c] / a[c][c]
			for k := c; k < 4; k++ {
				a[r][k] -= f * a[c][k]
			}
			b[r] -= f * b[c]
		}
	}
	var x [4]float64
	for r := 3; r >= 0; r-- {
		s := b[r]
		for k := r + 1; k < 4; k++ {
			s -= a[r][k] * x[k]
		}
		x[r] = s / a[r][r]
	}
	return x, nil
}
