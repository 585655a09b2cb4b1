package stagerun

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FormatParam renders a parameter value for people, readably and
// deterministically, as compact YAML flow syntax: scalars as written, lists
// as [a, b], mappings as {k: v} with keys in order, never Go's map[…]
// syntax. A string is quoted only where YAML would read it as something
// else: empty, leading or trailing space, flow or comment characters, a
// number, or true/false/null/yes/no. It is the one formatter of report
// lineage blocks, run diffs (rundiff) and datalab exp show. (Writing a value
// back into datalab.yaml is flowYAML's job, which keeps 1.0 a float.)
func FormatParam(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return ParamString(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return ParamString(x.String())
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = FormatParam(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		m := StringKeyed(rv)
		parts := make([]string, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, keyString(k)+": "+FormatParam(m[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return "null"
		}
		return FormatParam(rv.Elem().Interface())
	case reflect.Struct:
		// As encoding/json sees it, so a record's struct prints as the
		// same value read back from its JSON file.
		if b, err := json.Marshal(v); err == nil {
			var back any
			if json.Unmarshal(b, &back) == nil {
				return FormatParam(back)
			}
		}
	}
	return fmt.Sprint(v) // integers and other scalars
}

// ParamString quotes s when plain YAML would not read it back as the same
// string in a flow collection.
func ParamString(s string) string {
	if needsQuotes(s) {
		return strconv.Quote(s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.Quote(s)
	}
	switch strings.ToLower(s) {
	case "true", "false", "null", "~", "yes", "no":
		return strconv.Quote(s)
	}
	return s
}

// keyString quotes a mapping key only where it would break the flow syntax:
// a number-like key (from a map[int]…) stays as written.
func keyString(k string) string {
	if needsQuotes(k) {
		return strconv.Quote(k)
	}
	return k
}

func needsQuotes(s string) bool {
	return s == "" || strings.TrimSpace(s) != s || strings.ContainsAny(s, ",:[]{}#\"'\n\t")
}

// StringKeyed copies a map with any key type into one keyed by the keys'
// printed form.
func StringKeyed(rv reflect.Value) map[string]any {
	m := make(map[string]any, rv.Len())
	iter := rv.MapRange()
	for iter.Next() {
		m[fmt.Sprint(iter.Key().Interface())] = iter.Value().Interface()
	}
	return m
}
