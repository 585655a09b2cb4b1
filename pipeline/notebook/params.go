package notebook

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"regexp"
	"slices"
	"strings"
)

// ParamDecl is a parameter a notebook declares in its metadata, the way
// papermill's "parameters" cell declares them:
//
//	"metadata": {"datalab": {"parameters": [
//	  {"name": "sample", "default": "all rows", "help": "use only the first n rows"}]}}
//
// Default says what the notebook uses when the parameter is not given — a
// value, or in words when it is computed (e.g. "build/ under the
// repository"). The notebook reads the parameter with nbview.Param or
// nbview.IntParam; a test checks the two agree.
type ParamDecl struct {
	Name    string `json:"name"`
	Default string `json:"default"`
	Help    string `json:"help,omitempty"`
}

// Where a parameter's value came from (ParamValue.Source).
const (
	SourceGiven   = "given"   // --param / Runner.Params
	SourceDefault = "default" // not given: the notebook's default
	SourceUnused  = "unused"  // given, but the notebook declares no such parameter
)

// ParamValue is one parameter as a rendered notebook shows it near its top
// and its sidecar records it (field "params").
type ParamValue struct {
	Name   string `json:"name"`
	Env    string `json:"env"`    // the environment variable, DATALAB_NB_<NAME>
	Value  string `json:"value"`  // the value given, or the declared default
	Source string `json:"source"` // SourceGiven, SourceDefault or SourceUnused
	Help   string `json:"help,omitempty"`
}

var paramNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// ReadParamDecls returns the parameters the notebook at path declares
// (metadata.datalab.parameters), in declaration order; none is not an
// error. A malformed declaration is an error naming the notebook.
func ReadParamDecls(path string) ([]ParamDecl, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notebook %s: %w", path, err)
	}
	var nb struct {
		Metadata struct {
			Datalab struct {
				Parameters []ParamDecl `json:"parameters"`
			} `json:"datalab"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("notebook %s: metadata.datalab.parameters: %w", path, err)
	}
	decls := nb.Metadata.Datalab.Parameters
	seen := map[string]bool{}
	for i, d := range decls {
		if !paramNameRE.MatchString(d.Name) {
			return nil, fmt.Errorf("notebook %s: metadata.datalab.parameters[%d]: name %q: want lower-case letters, digits and _ (the parameter is DATALAB_NB_<NAME>)", path, i, d.Name)
		}
		if seen[d.Name] {
			return nil, fmt.Errorf("notebook %s: metadata.datalab.parameters declares %q twice", path, d.Name)
		}
		seen[d.Name] = true
	}
	return decls, nil
}

// ParamValues lists what a run with the given parameters sees: each
// declared parameter with its given value or its default, in declaration
// order, then any given parameter the notebook does not declare (sorted).
func ParamValues(decls []ParamDecl, given map[string]string) []ParamValue {
	var out []ParamValue
	declared := map[string]bool{}
	for _, d := range decls {
		declared[d.Name] = true
		v := ParamValue{Name: d.Name, Env: ParamPrefix + strings.ToUpper(d.Name), Value: d.Default, Source: SourceDefault, Help: d.Help}
		if g, ok := given[d.Name]; ok && g != "" { // nbview.Param takes an empty value as unset
			v.Value, v.Source = g, SourceGiven
		}
		out = append(out, v)
	}
	var extra []string
	for k := range given {
		if !declared[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		out = append(out, ParamValue{Name: k, Env: ParamPrefix + strings.ToUpper(k), Value: given[k], Source: SourceUnused})
	}
	return out
}

// ParamsCellID is the id of the cell injected into the rendered notebook.
const ParamsCellID = "datalab-parameters"

// ParamsHTML is the block a rendered notebook shows under its title: a
// table of the parameters the run used, each with its environment variable,
// its value and whether it was given or the default. Classes carry the
// styling (jupyter/nbconvert/templates/datalab).
func ParamsHTML(values []ParamValue) string {
	var b strings.Builder
	b.WriteString(`<section class="datalab-params" aria-label="Parameters of this run"><p class="datalab-params-title">Parameters of this run</p>`)
	if len(values) == 0 {
		b.WriteString(`<p>This notebook takes no parameters.</p></section>`)
		return b.String()
	}
	b.WriteString(`<table class="datalab-params"><thead><tr><th>Parameter</th><th>Environment variable</th><th>Value</th><th>Source</th></tr></thead><tbody>`)
	for _, v := range values {
		source := map[string]string{
			SourceGiven:   "given (--param)",
			SourceDefault: "default",
			SourceUnused:  "given, not read by this notebook",
		}[v.Source]
		name := html.EscapeString(v.Name)
		if v.Help != "" {
			name = `<span title="` + html.EscapeString(v.Help) + `">` + name + `</span>`
		}
		fmt.Fprintf(&b, `<tr class="%s"><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td></tr>`,
			v.Source, name, html.EscapeString(v.Env), html.EscapeString(v.Value), source)
	}
	b.WriteString(`</tbody></table></section>`)
	return b.String()
}

// injectParams adds a raw HTML cell with the parameters block to the
// executed notebook at path, right after the title cell (a first markdown
// cell starting with a heading) or first. Cells are kept byte for byte; the
// cell is added after execution, so cell numbers in errors are the
// notebook's own.
func injectParams(path string, values []ParamValue) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var nb map[string]json.RawMessage
	if err := json.Unmarshal(data, &nb); err != nil {
		return fmt.Errorf("executed notebook %s: %w", path, err)
	}
	var cells []json.RawMessage
	if err := json.Unmarshal(nb["cells"], &cells); err != nil {
		return fmt.Errorf("executed notebook %s: cells: %w", path, err)
	}
	at := 0
	if len(cells) > 0 {
		var first struct {
			Type   string          `json:"cell_type"`
			Source json.RawMessage `json:"source"`
		}
		if json.Unmarshal(cells[0], &first) == nil && first.Type == "markdown" && strings.HasPrefix(strings.TrimSpace(cellSource(first.Source)), "#") {
			at = 1
		}
	}
	cell, err := json.Marshal(map[string]any{
		"cell_type": "raw",
		"id":        ParamsCellID,
		"metadata":  map[string]any{"raw_mimetype": "text/html", "tags": []string{"injected-parameters"}},
		"source":    ParamsHTML(values),
	})
	if err != nil {
		return err
	}
	cells = slices.Insert(cells, at, json.RawMessage(cell))
	if nb["cells"], err = json.Marshal(cells); err != nil {
		return err
	}
	out, err := json.Marshal(nb)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}
