package report

import (
	"maps"
	"reflect"
	"slices"

	"github.com/datalabhq/datalab/pipeline/stagerun"
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
	return paramValue{Text: stagerun.FormatParam(v)}
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
		rows[i] = stagerun.StringKeyed(e)
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
				txt := stagerun.FormatParam(v)
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
