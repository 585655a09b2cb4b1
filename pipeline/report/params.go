package report

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// paramValue is one parameter as the lineage block shows it: a compact
// YAML-like text, or — for a list of mappings such as params.flights.variants
// — a nested table with one row per element and one column per key.
type paramValue struct {
	Text  string
	Table *table
}

// formatParam renders a parameter value readably and deterministically:
// scalars as written in YAML, lists as [a, b], mappings as {k: v} in key
// order, and a non-empty list whose elements are all mappings as a table.
// Go's map[…] syntax never appears.
func formatParam(v any) paramValue {
	if rows, ok := mappingList(v); ok {
		return paramValue{Table: mappingTable(rows)}
	}
	return paramValue{Text: FormatValue(v)}
}

// FormatValue renders a parameter value as compact YAML flow syntax: scalars
// as written, lists as [a, b], mappings as {k: v} with keys in order. Strings
// are quoted only where YAML would read them as something else (empty,
// leading or trailing space, flow or comment characters). It is what report
// lineage blocks and parameter tables print instead of Go's map[…] syntax.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return yamlString(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return yamlString(x.String())
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = FormatValue(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		m := stringKeyed(rv)
		parts := make([]string, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, yamlString(k)+": "+FormatValue(m[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return "null"
		}
		return FormatValue(rv.Elem().Interface())
	}
	return fmt.Sprint(v) // integers and other scalars
}

// stringKeyed copies a map with any key type into one keyed by the keys'
// printed form.
func stringKeyed(rv reflect.Value) map[string]any {
	m := make(map[string]any, rv.Len())
	iter := rv.MapRange()
	for iter.Next() {
		m[fmt.Sprint(iter.Key().Interface())] = iter.Value().Interface()
	}
	return m
}

// yamlString quotes s when plain YAML would not read it back as the same
// string in a flow collection.
func yamlString(s string) string {
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsAny(s, ",[]{}#:\"'\n\t") {
		return strconv.Quote(s)
	}
	return s
}

// mappingList returns v's elements when v is a non-empty list whose every
// element is a mapping.
func mappingList(v any) ([]map[string]any, bool) {
	rv := reflect.ValueOf(v)
	if v == nil || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Len() == 0 {
		return nil, false
	}
	rows := make([]map[string]any, rv.Len())
	for i := range rows {
		e := reflect.ValueOf(rv.Index(i).Interface())
		if e.Kind() != reflect.Map {
			return nil, false
		}
		rows[i] = stringKeyed(e)
	}
	return rows, true
}

// mappingTable lays out a list of mappings: "name" first when every element
// has one, then the other keys in order of first appearance in key-sorted
// elements — so the same list gives the same columns.
func mappingTable(rows []map[string]any) *table {
	seen := map[string]bool{}
	var keys []string
	for _, r := range rows {
		for _, k := range slices.Sorted(maps.Keys(r)) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	if i := slices.Index(keys, "name"); i > 0 {
		keys = append([]string{"name"}, slices.Delete(keys, i, i+1)...)
	}
	t := &table{Header: keys, Class: "params"}
	for _, r := range rows {
		cells := make([]cell, len(keys))
		for j, k := range keys {
			if v, ok := r[k]; ok {
				txt := FormatValue(v)
				if s, isStr := v.(string); isStr {
					txt = s // a table cell needs no quoting
				}
				cells[j] = cell{Text: txt, Class: numericClass(txt)}
			}
		}
		t.Rows = append(t.Rows, cells)
	}
	return t
}

// RelevantOverrides keeps the overrides that set one of params or a value
// inside one (by dotted key). A report lists only those: the others do not
// change what it shows, and its stage's cache key leaves them out, so
// listing them would make the same cached report differ between runs.
func RelevantOverrides(overrides, params map[string]any) map[string]any {
	var out map[string]any
	for k, v := range overrides {
		for p := range params {
			if overridden(p, map[string]any{k: v}) {
				if out == nil {
					out = map[string]any{}
				}
				out[k] = v
				break
			}
		}
	}
	return out
}
