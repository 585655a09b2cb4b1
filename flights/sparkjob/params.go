package sparkjob

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// JobParam is one command-line argument the PySpark job declares with
// argparse: parser.add_argument("--num-trees", type=int, default=20, help=…).
type JobParam struct {
	// Flag is the option, e.g. "--num-trees".
	Flag string
	// Type is the argparse type callable: "int", "float", "str" or
	// "parse_bool" (the job's own true/false parser).
	Type string
	// Default is the declared default (int64, float64, string or bool), nil
	// when there is none.
	Default any
	// Required is required=True.
	Required bool
	// Line is the 1-based line of the call in the job file.
	Line int
}

// ParseJobParams reads the add_argument calls of a PySpark job. Each call must
// sit on one line and use only a "--flag" name and the keywords type,
// default, required and help, with literal values: that is what the job's
// mirror of the Go configuration needs, and anything else (action=, nargs=,
// a computed default) is reported as an error rather than misread.
func ParseJobParams(src []byte) ([]JobParam, error) {
	var out []JobParam
	seen := map[string]int{}
	for i, line := range strings.Split(string(src), "\n") {
		at := strings.Index(line, ".add_argument(")
		if at < 0 {
			continue
		}
		n := i + 1
		args, err := callArgs(line[at+len(".add_argument("):])
		if err != nil {
			return nil, fmt.Errorf("line %d: add_argument: %w (keep each call on one line)", n, err)
		}
		p, err := parseParam(args)
		if err != nil {
			return nil, fmt.Errorf("line %d: add_argument: %w", n, err)
		}
		p.Line = n
		if prev, dup := seen[p.Flag]; dup {
			return nil, fmt.Errorf("line %d: %s already declared on line %d", n, p.Flag, prev)
		}
		seen[p.Flag] = n
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no add_argument calls found")
	}
	return out, nil
}

var (
	flagName   = regexp.MustCompile(`^--[a-z][a-z0-9-]*$`)
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	argTypes   = map[string]bool{"int": true, "float": true, "str": true, "parse_bool": true}
)

func parseParam(args []string) (JobParam, error) {
	if len(args) == 0 {
		return JobParam{}, fmt.Errorf("no arguments")
	}
	name, err := literal(args[0])
	s, ok := name.(string)
	if err != nil || !ok || !flagName.MatchString(s) {
		return JobParam{}, fmt.Errorf("first argument %s: want a \"--flag\" string", args[0])
	}
	p := JobParam{Flag: s}
	for _, a := range args[1:] {
		key, val, ok := strings.Cut(a, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok || !identifier.MatchString(key) {
			return JobParam{}, fmt.Errorf("%s: argument %q is not keyword=value", p.Flag, a)
		}
		switch key {
		case "type":
			if !argTypes[val] {
				return JobParam{}, fmt.Errorf("%s: type=%s, want int, float, str or parse_bool", p.Flag, val)
			}
			p.Type = val
		case "default":
			if p.Default, err = literal(val); err != nil {
				return JobParam{}, fmt.Errorf("%s: default: %w", p.Flag, err)
			}
		case "required":
			b, err := literal(val)
			if _, isBool := b.(bool); err != nil || !isBool {
				return JobParam{}, fmt.Errorf("%s: required=%s, want True or False", p.Flag, val)
			}
			p.Required = b.(bool)
		case "help":
			if _, err := literal(val); err != nil {
				return JobParam{}, fmt.Errorf("%s: help: %w", p.Flag, err)
			}
		default:
			return JobParam{}, fmt.Errorf("%s: keyword %s is not supported (type, default, required, help)", p.Flag, key)
		}
	}
	if p.Type == "" {
		return JobParam{}, fmt.Errorf("%s: no type=", p.Flag)
	}
	if p.Required && p.Default != nil {
		return JobParam{}, fmt.Errorf("%s: both required and a default", p.Flag)
	}
	return p, nil
}

// ParseJobConstants reads the module-level constants of a PySpark job:
// lines `NAME = <literal>` at column 0 with an upper-case NAME, whose
// literal is a string, number, True/False/None, float("inf") /
// float("-inf"), or a one-line list of those.
func ParseJobConstants(src []byte) (map[string]any, error) {
	out := map[string]any{}
	for i, line := range strings.Split(string(src), "\n") {
		m := constLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := literal(m[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", i+1, m[1], err)
		}
		out[m[1]] = v
	}
	return out, nil
}

var constLine = regexp.MustCompile(`^([A-Z][A-Z0-9_]*) = (.+?)\s*$`)

// callArgs splits the text after "add_argument(" at its top-level commas
// up to the closing parenthesis.
func callArgs(s string) ([]string, error) {
	var args []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'':
			end, err := stringEnd(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case '(', '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced %q", c)
			}
		case ')':
			if depth == 0 {
				// An empty last segment is f() or a trailing comma.
				if a := strings.TrimSpace(s[start:i]); a != "" {
					args = append(args, a)
				}
				return args, nil
			}
			depth--
		case ',':
			if depth == 0 {
				a := strings.TrimSpace(s[start:i])
				if a == "" {
					return nil, fmt.Errorf("empty argument")
				}
				args = append(args, a)
				start = i + 1
			}
		case '#':
			return nil, fmt.Errorf("comment inside the call")
		}
	}
	return nil, fmt.Errorf("no closing parenthesis")
}

// stringEnd returns the index of the quote closing the Python string that
// opens at s[i].
func stringEnd(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j, nil
		}
	}
	return 0, fmt.Errorf("unterminated string")
}

// literal evaluates a Python literal: a string in single or double quotes
// (escapes \\ \' \" \n \t), an int, a float, True, False, None,
// float("inf"), float("-inf"), or a list of those.
func literal(s string) (any, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return nil, fmt.Errorf("empty value")
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	case `float("inf")`, `float('inf')`:
		return math.Inf(1), nil
	case `float("-inf")`, `float('-inf')`, `-float("inf")`, `-float('inf')`:
		return math.Inf(-1), nil
	}
	switch s[0] {
	case '"', '\'':
		end, err := stringEnd(s, 0)
		if err != nil {
			return nil, err
		}
		if end != len(s)-1 {
			return nil, fmt.Errorf("%s: text after the string", s)
		}
		return unescape(s[1:end])
	case '[':
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("%s: unterminated list", s)
		}
		body := strings.TrimSpace(s[1 : len(s)-1])
		if body == "" {
			return []any{}, nil
		}
		items, err := callArgs(body + ")")
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s, err)
		}
		out := make([]any, len(items))
		for i, it := range items {
			if out[i], err = literal(it); err != nil {
				return nil, err
			}
			if _, nested := out[i].([]any); nested {
				return nil, fmt.Errorf("list %s: nested lists are not supported", s)
			}
		}
		return out, nil
	}
	digits := strings.TrimLeft(s, "+-")
	if digits == "" || strings.ContainsAny(digits, "+-") && !strings.ContainsAny(digits, "eE") || strings.ContainsAny(s, "_xXpP") {
		return nil, fmt.Errorf("%q is not a literal", s)
	}
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	} else if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return f, nil
	}
	return nil, fmt.Errorf("%q is not a literal (string, number, True, False, None, float(\"inf\") or a list)", s)
}

func unescape(body string) (string, error) {
	if !strings.Contains(body, `\`) {
		return body, nil
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(body) {
			return "", fmt.Errorf("dangling backslash")
		}
		switch body[i] {
		case '\\', '\'', '"':
			b.WriteByte(body[i])
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		default:
			return "", fmt.Errorf(`escape \%c is not supported`, body[i])
		}
	}
	return b.String(), nil
}
