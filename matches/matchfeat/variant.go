package matchfeat

import (
	"fmt"
	"sort"
	"strings"

	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// Input is one column of a variant's feature vector: a numeric feature, or a
// string feature replaced by its index in alphabetically sorted labels
// (Spark's StringIndexer with stringOrderType alphabetAsc; unseen values get
// len(labels), handleInvalid "keep").
type Input struct {
	// Name is the feature's name (a key of the numeric or string features).
	Name string `json:"name"`
	// Indexed is true for a string feature.
	Indexed bool `json:"indexed,omitempty"`
	// Categorical asks the forest to treat an indexed feature as nominal.
	// The seed treated its codes as numbers (scikit-learn), so its variant
	// leaves this false.
	Categorical bool `json:"categorical,omitempty"`
}

// Column is the name of the input in the feature vector: the feature name,
// with "_index" appended for an indexed string.
func (in Input) Column() string {
	if in.Indexed {
		return in.Name + "_index"
	}
	return in.Name
}

// Variant is a feature set and label definition of the match-winner model.
type Variant struct {
	Name        string                `json:"name"`
	Description string                `json:"description"`
	Classes     []matchwinner.Outcome `json:"classes"`
	Inputs      []Input               `json:"inputs"`
}

// Binary and three-way class lists (index = Spark label value).
var (
	BinaryClasses = []matchwinner.Outcome{matchwinner.NotHomeWin, matchwinner.HomeWin}
	ThreeClasses  = []matchwinner.Outcome{matchwinner.HomeWin, matchwinner.Draw, matchwinner.AwayWin}
)

func numeric(names ...string) []Input {
	in := make([]Input, len(names))
	for i, n := range names {
		in[i] = Input{Name: n}
	}
	return in
}

// formInputs are the designed features: strength differences the trees need
// not discover from pairs of raw columns, plus the raw levels.
var formInputs = numeric(
	"neutral",
	"elo_expected", "elo_diff", "home_elo", "away_elo",
	"rank_diff", "home_team_fifa_rank", "away_team_fifa_rank", "points_diff",
	"form_points_diff", "form_gd_diff", "home_form_points", "away_form_points", "home_form_gd", "away_form_gd",
	"h2h_played", "h2h_score", "h2h_gd",
	"squad_diff", "squad_gk_diff", "squad_def_diff", "squad_mid_diff", "squad_off_diff",
	"attack_vs_defense", "defense_vs_attack",
)

// Variants are the feature sets known by name.
var Variants = map[string]Variant{
	"seed": {
		Name: "seed",
		Description: "the seed's model: continent and team codes (alphabetical, used as numbers), " +
			"FIFA ranks, total FIFA points, year; home win vs not",
		Classes: BinaryClasses,
		Inputs: []Input{
			{Name: "home_team_continent", Indexed: true}, {Name: "away_team_continent", Indexed: true},
			{Name: "home_team_fifa_rank"}, {Name: "away_team_fifa_rank"},
			{Name: "home_team_total_fifa_points"}, {Name: "away_team_total_fifa_points"},
			{Name: "year"},
			{Name: "home_team", Indexed: true}, {Name: "away_team", Indexed: true},
		},
	},
	"elo": {
		Name:        "elo",
		Description: "three strength signals only: Elo expectation (with home advantage), rank and points differences, neutral venue; home win vs not",
		Classes:     BinaryClasses,
		Inputs:      numeric("neutral", "elo_expected", "elo_diff", "rank_diff", "points_diff"),
	},
	"form": {
		Name: "form",
		Description: "differences of Elo, FIFA rank and points, recent form (last 10 matches), " +
			"head-to-head (last 10 meetings), EA squad scores where present, neutral venue; home win vs not",
		Classes: BinaryClasses,
		Inputs:  formInputs,
	},
	"form3": {
		Name:        "form3",
		Description: "the form features with three classes: home win, draw, away win",
		Classes:     ThreeClasses,
		Inputs:      formInputs,
	},
	"elo3": {
		Name:        "elo3",
		Description: "the elo features (Elo expectation and difference, rank and points differences, neutral venue) with three classes",
		Classes:     ThreeClasses,
		Inputs:      numeric("neutral", "elo_expected", "elo_diff", "rank_diff", "points_diff"),
	},
	"diff3": {
		Name: "diff3",
		Description: "differences only, three classes: elo's strength signals plus form (points, goal difference), " +
			"head-to-head goal difference and squad difference — no raw levels, so fewer noisy splits",
		Classes: ThreeClasses,
		Inputs: numeric("neutral", "elo_expected", "elo_diff", "rank_diff", "points_diff",
			"form_points_diff", "form_gd_diff", "h2h_gd", "squad_diff"),
	},
}

// VariantNames lists the known variants, sorted.
func VariantNames() []string {
	names := make([]string, 0, len(Variants))
	for n := range Variants {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupVariant returns the named variant.
func LookupVariant(name string) (Variant, error) {
	v, ok := Variants[name]
	if !ok {
		return Variant{}, fmt.Errorf("unknown match variant %q (known: %s)", name, strings.Join(VariantNames(), ", "))
	}
	return v, nil
}

// Columns names the feature vector's entries.
func (v Variant) Columns() []string {
	c := make([]string, len(v.Inputs))
	for i, in := range v.Inputs {
		c[i] = in.Column()
	}
	return c
}

// Label is the class index of a match result under the variant's classes.
// homeGoals and awayGoals are the score after 90/120 minutes (shoot-outs do
// not change the result).
func (v Variant) Label(homeGoals, awayGoals int32) (int, error) {
	var o matchwinner.Outcome
	switch {
	case homeGoals > awayGoals:
		o = matchwinner.HomeWin
	case homeGoals == awayGoals:
		o = matchwinner.Draw
	default:
		o = matchwinner.AwayWin
	}
	if len(v.Classes) == 2 && o != matchwinner.HomeWin {
		o = matchwinner.NotHomeWin
	}
	for i, c := range v.Classes {
		if c == o {
			return i, nil
		}
	}
	return 0, fmt.Errorf("variant %s: no class for outcome %s", v.Name, o)
}

// FitLabels returns, for every indexed input of v, its labels sorted
// alphabetically over the given matches (the seed's pandas category codes).
func (v Variant) FitLabels(rows []ingest.MatchRow) map[string][]string {
	out := map[string][]string{}
	for _, in := range v.Inputs {
		if !in.Indexed {
			continue
		}
		set := map[string]bool{}
		for i := range rows {
			r := &rows[i]
			switch in.Name {
			case "home_team":
				set[r.HomeTeam] = true
			case "away_team":
				set[r.AwayTeam] = true
			case "home_team_continent":
				set[r.HomeTeamContinent] = true
			case "away_team_continent":
				set[r.AwayTeamContinent] = true
			}
		}
		labels := make([]string, 0, len(set))
		for s := range set {
			labels = append(labels, s)
		}
		sort.Strings(labels)
		out[in.Name] = labels
	}
	return out
}

// Encoder turns Features into a variant's feature vector.
type Encoder struct {
	v       Variant
	numeric []func(*Features) float64
	strs    []func(*Features) string
	index   []map[string]int
	unseen  []float64
}

// NewEncoder prepares v's vector layout; labels holds each indexed input's
// labels (FitLabels, or as saved with a model).
func NewEncoder(v Variant, labels map[string][]string) (*Encoder, error) {
	e := &Encoder{v: v}
	for _, in := range v.Inputs {
		if in.Indexed {
			fn, ok := stringFeatures[in.Name]
			if !ok {
				return nil, fmt.Errorf("variant %s: %q is not a string feature", v.Name, in.Name)
			}
			ls, ok := labels[in.Name]
			if !ok {
				return nil, fmt.Errorf("variant %s: no labels for indexed input %q", v.Name, in.Name)
			}
			idx := make(map[string]int, len(ls))
			for i, l := range ls {
				idx[l] = i
			}
			e.numeric = append(e.numeric, nil)
			e.strs = append(e.strs, fn)
			e.index = append(e.index, idx)
			e.unseen = append(e.unseen, float64(len(ls)))
			continue
		}
		fn, ok := numericFeatures[in.Name]
		if !ok {
			return nil, fmt.Errorf("variant %s: %q is not a numeric feature", v.Name, in.Name)
		}
		e.numeric = append(e.numeric, fn)
		e.strs = append(e.strs, nil)
		e.index = append(e.index, nil)
		e.unseen = append(e.unseen, 0)
	}
	return e, nil
}

// Variant is the encoder's variant.
func (e *Encoder) Variant() Variant { return e.v }

// Width is the length of the feature vector.
func (e *Encoder) Width() int { return len(e.numeric) }

// Encode writes f's feature vector into dst (len Width).
func (e *Encoder) Encode(f *Features, dst []float64) {
	for i, fn := range e.numeric {
		if fn != nil {
			dst[i] = fn(f)
			continue
		}
		if k, ok := e.index[i][e.strs[i](f)]; ok {
			dst[i] = float64(k)
		} else {
			dst[i] = e.unseen[i]
		}
	}
}
