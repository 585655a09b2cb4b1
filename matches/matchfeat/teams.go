package matchfeat

import (
	"fmt"
	"sort"
)

// kaggleSpellings maps the spellings of the martj42 results and the
// worldcup2022 fixture files to the FIFA spellings of the Kaggle match data
// the model is trained on. Only names that differ are listed; every other
// World Cup 2022 team is spelled the same in both (checked by the tests).
var kaggleSpellings = map[string]string{
	"Iran":          "IR Iran",
	"South Korea":   "Korea Republic",
	"United States": "USA",
}

// CanonicalTeam returns the training data's spelling of team: the name
// itself when the lookup knows it, else its mapped spelling. A name that is
// neither is an error wrapping ErrUnknownTeam — never guessed.
func (lk *Lookup) CanonicalTeam(team string) (string, error) {
	if _, ok := lk.Teams[team]; ok {
		return team, nil
	}
	if k, ok := kaggleSpellings[team]; ok {
		if _, ok := lk.Teams[k]; ok {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w: %q (not in the match data; known spellings are the FIFA ones, e.g. \"IR Iran\", \"Korea Republic\", \"USA\")", ErrUnknownTeam, team)
}

// Aliases lists the alternative spellings CanonicalTeam accepts, as
// alias → training spelling, sorted by alias.
func Aliases() [][2]string {
	out := make([][2]string, 0, len(kaggleSpellings))
	for a, k := range kaggleSpellings {
		out = append(out, [2]string{a, k})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}
