package experiment

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Point is one experiment of a grid: the overrides it runs with.
type Point struct {
	// Overrides are every --set plus this point's sweep values, by dotted key.
	Overrides map[string]any
	// Swept are this point's sweep values in --sweep order: what tells it
	// apart from the other points.
	Swept []Assignment
}

// Assignment is one key=value of a point, the value as typed and parsed.
type Assignment struct {
	Key   string
	Raw   string
	Value any
}

// Grid expands --set and --sweep arguments into experiments: the cartesian
// product of every sweep's values (the first sweep varies slowest), each
// point also carrying every --set. Values are YAML (stagerun.ParseSet): 12,
// 0.5, true, "[form3, elo]". A sweep is key=a,b,c; commas inside brackets,
// braces or quotes do not split. A key given twice (in two sweeps, or in a
// sweep and a --set) is an error. With no sweep the grid is one point.
func Grid(sets, sweeps []string) ([]Point, error) {
	base, err := stagerun.ParseSet(sets)
	if err != nil {
		return nil, err
	}
	points := []Point{{Overrides: base}}
	seen := map[string]bool{}
	for k := range base {
		seen[k] = true
	}
	for _, arg := range sweeps {
		key, raws, err := ParseSweep(arg)
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, fmt.Errorf("--sweep %s: %s is already given by another --set or --sweep; give each key once", arg, key)
		}
		seen[key] = true
		var values []Assignment
		for _, raw := range raws {
			ov, err := stagerun.ParseSet([]string{key + "=" + raw})
			if err != nil {
				return nil, fmt.Errorf("--sweep %s: %w", arg, err)
			}
			values = append(values, Assignment{Key: key, Raw: raw, Value: ov[key]})
		}
		var next []Point
		for _, p := range points {
			for _, a := range values {
				ov := make(map[string]any, len(p.Overrides)+1)
				for k, v := range p.Overrides {
					ov[k] = v
				}
				ov[key] = a.Value
				next = append(next, Point{Overrides: ov, Swept: append(slices.Clip(p.Swept), a)})
			}
		}
		points = next
	}
	return points, nil
}

// ParseSweep splits key=a,b,c into the key and its raw values. Commas
// inside [], {} or quotes belong to a value ("k=[a,b],[c]" is two values).
// An empty value or a value given twice is an error.
func ParseSweep(arg string) (key string, values []string, err error) {
	key, list, ok := strings.Cut(arg, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" || strings.TrimSpace(list) == "" {
		return "", nil, fmt.Errorf("--sweep %q: want key.path=value1,value2,… (for example --sweep matches.forests.default.max_depth=4,8,12)", arg)
	}
	depth, quote, start := 0, rune(0), 0
	add := func(v string) error {
		v = strings.TrimSpace(v)
		if v == "" {
			return fmt.Errorf("--sweep %q: empty value (want key=value1,value2,…)", arg)
		}
		if slices.Contains(values, v) {
			return fmt.Errorf("--sweep %q: value %s given twice", arg, v)
		}
		values = append(values, v)
		return nil
	}
	for i, r := range list {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '[' || r == '{':
			depth++
		case r == ']' || r == '}':
			depth--
		case r == ',' && depth == 0:
			if err := add(list[start:i]); err != nil {
				return "", nil, err
			}
			start = i + 1
		}
	}
	if quote != 0 || depth != 0 {
		return "", nil, fmt.Errorf("--sweep %q: unbalanced quote or bracket", arg)
	}
	if err := add(list[start:]); err != nil {
		return "", nil, err
	}
	return key, values, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// CheckName accepts a name usable as a directory name on every system:
// letters, digits, '.', '_' and '-', starting with a letter or digit, at
// most 100 characters.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("experiment name %q: use 1–100 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

var unsafeRun = regexp.MustCompile(`[^A-Za-z0-9._]+`)

// namePart makes s safe inside a name: runs of other characters become '-'.
func namePart(s string) string {
	s = strings.Trim(unsafeRun.ReplaceAllString(s, "-"), "-.")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-.")
	}
	return s
}

// Names gives each point a name. With base (--name): one point is base;
// points differing in one swept key are base-<value>, others base-1, base-2,
// …. Without: the last segment of each swept (or, without a sweep, set) key
// with its value, such as max_depth-12, joined by '_'; "exp" when there is
// nothing to name it after. taken reports names already used; a default
// name that is taken gets -2, -3, … appended; base names are checked by
// the caller (reusing a done experiment's name needs --force).
func Names(points []Point, base string, taken func(string) bool) ([]string, error) {
	if base != "" {
		if err := CheckName(base); err != nil {
			return nil, err
		}
	}
	names := make([]string, len(points))
	used := map[string]bool{}
	for i, p := range points {
		var name string
		switch {
		case base != "" && len(points) == 1:
			name = base
		case base != "":
			name = fmt.Sprintf("%s-%d", base, i+1)
			if len(p.Swept) == 1 {
				if part := namePart(p.Swept[0].Raw); part != "" {
					name = base + "-" + part
				}
			}
		default:
			name = defaultName(p)
		}
		if len(name) > 100 {
			name = strings.TrimRight(name[:100], "-._")
		}
		if err := CheckName(name); err != nil {
			return nil, err
		}
		if base == "" {
			unique := name
			for n := 2; used[unique] || taken(unique); n++ {
				unique = fmt.Sprintf("%s-%d", name, n)
			}
			name = unique
		} else if used[name] {
			return nil, fmt.Errorf("two experiments would be called %s: pass another --name", name)
		}
		used[name] = true
		names[i] = name
	}
	return names, nil
}

func defaultName(p Point) string {
	as := p.Swept
	if len(as) == 0 {
		keys := make([]string, 0, len(p.Overrides))
		for k := range p.Overrides {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			as = append(as, Assignment{Key: k, Raw: fmt.Sprint(p.Overrides[k])})
		}
	}
	var parts []string
	for _, a := range as {
		seg := a.Key[strings.LastIndex(a.Key, ".")+1:]
		if part := namePart(seg + "-" + a.Raw); part != "" {
			parts = append(parts, part)
		}
	}
	if len(parts) == 0 {
		return "exp"
	}
	return strings.Join(parts, "_")
}
