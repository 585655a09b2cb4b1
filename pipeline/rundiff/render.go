package rundiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// JSON returns the diff as indented JSON with a trailing newline; decoding
// it into a Diff gives the same Diff back.
func (d Diff) JSON() ([]byte, error) {
	return marshalJSON(d)
}

// JSONWithGate is JSON with the gate's results under "gate".
func (d Diff) JSONWithGate(g GateReport) ([]byte, error) {
	return marshalJSON(struct {
		Diff
		Gate GateReport `json:"gate"`
	}{d, g})
}

// RecordJSON returns a run record as indented JSON.
func RecordJSON(r *stagerun.RunRecord) ([]byte, error) {
	return marshalJSON(r)
}

// marshalJSON encodes v indented, with a trailing newline, leaving < > &
// as they are (gate rules hold them; nothing here goes into HTML).
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// FormatNumber prints a metric value: whole numbers (counts) as integers,
// others with 4 decimals, tiny ones with 3 significant digits.
func FormatNumber(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) < 0.001:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// FormatChange prints a change with its sign ("+0.0156", "-3", "0").
func FormatChange(v float64) string {
	if v > 0 {
		return "+" + FormatNumber(v)
	}
	return FormatNumber(v)
}

// FormatPercent prints a relative change (a fraction) as a signed
// percentage with 2 decimals ("+2.94%").
func FormatPercent(rel float64) string {
	p := 100 * rel
	s := strconv.FormatFloat(p, 'f', 2, 64)
	if p != 0 && math.Abs(p) < 0.005 {
		s = strconv.FormatFloat(p, 'g', 2, 64)
	}
	if p > 0 {
		s = "+" + s
	}
	return s + "%"
}

// changeCells are the base, head and change columns of a metric row; the
// change says which side lacks the metric.
func (m MetricChange) changeCells() (base, head, change string) {
	base, head = "—", "—"
	if m.HasOld {
		base = FormatNumber(m.Old)
	}
	if m.HasNew {
		head = FormatNumber(m.New)
	}
	switch {
	case !m.HasOld:
		change = "new in head"
	case !m.HasNew:
		change = "gone in head"
	default:
		change = FormatChange(m.Abs)
		if m.HasRel && m.Abs != 0 {
			change += " (" + FormatPercent(m.Rel) + ")"
		} else if !m.HasRel {
			change += " (base 0)"
		}
	}
	return base, head, change
}

// paramCells are the base and head columns of a param row.
func (p ParamChange) paramCells() (base, head string) {
	base, head = "—", "—"
	if p.HasOld {
		base = stagerun.FormatParam(p.Old)
	}
	if p.HasNew {
		head = stagerun.FormatParam(p.New)
	}
	return base, head
}

// label is a run's id with its experiment, if any.
func (r RunInfo) label() string {
	if r.Experiment != "" {
		return r.ID + " (" + r.Experiment + ")"
	}
	return r.ID
}

// ShortCommit is the first 12 hex digits of a commit, "+dirty" when the
// tree had uncommitted changes, "unknown" when there is none.
func ShortCommit(commit string, dirty bool) string {
	if commit == "" {
		commit = "unknown"
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if dirty {
		commit += "+dirty"
	}
	return commit
}

// Summary is the diff in one line: counts of changes, and the verdicts.
func (d Diff) Summary() string {
	if d.Empty() {
		return "no change: same params, metrics, data, code and stage keys"
	}
	var parts []string
	parts = append(parts, plural(d.ChangedParams(), "param")+" changed")
	changed := d.ChangedMetrics()
	better, worse := 0, 0
	for _, m := range changed {
		switch m.Verdict {
		case "better":
			better++
		case "worse":
			worse++
		}
	}
	ms := fmt.Sprintf("%d of %s changed", len(changed), plural(len(d.Metrics), "metric"))
	if better+worse > 0 {
		ms += fmt.Sprintf(" (%d better, %d worse)", better, worse)
	}
	parts = append(parts, ms)
	if len(d.Data) == 0 {
		parts = append(parts, "same data")
	} else {
		parts = append(parts, plural(len(d.Data), "data set")+" changed")
	}
	switch {
	case d.Code.OldCommit != d.Code.NewCommit:
		parts = append(parts, "code "+ShortCommit(d.Code.OldCommit, d.Code.OldDirty)+" → "+ShortCommit(d.Code.NewCommit, d.Code.NewDirty))
	case d.Code.Changed():
		parts = append(parts, "same commit, "+codeNote(d.Code))
	default:
		parts = append(parts, "same code")
	}
	parts = append(parts, plural(len(d.Stages), "stage")+" with another cache key")
	return strings.Join(parts, " · ")
}

// codeNote says why the code may differ at the same commit.
func codeNote(c CodeChange) string {
	var notes []string
	if c.OldDirty || c.NewDirty {
		notes = append(notes, "uncommitted changes")
	}
	if c.OldGo != c.NewGo {
		notes = append(notes, "Go "+c.OldGo+" → "+c.NewGo)
	}
	if c.OldDatalab != c.NewDatalab {
		notes = append(notes, "datalab "+c.OldDatalab+" → "+c.NewDatalab)
	}
	return strings.Join(notes, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// Text renders the diff for a terminal: aligned columns, changed params,
// changed metrics, data, code and stage keys.
func (d Diff) Text() []byte {
	var buf bytes.Buffer
	writeTextTable(&buf, [][]string{
		{"base", d.A.label(), d.A.Status, "commit " + ShortCommit(d.A.Commit, d.A.Dirty)},
		{"head", d.B.label(), d.B.Status, "commit " + ShortCommit(d.B.Commit, d.B.Dirty)},
	}, nil)
	fmt.Fprintf(&buf, "\n%s\n", d.Summary())
	if d.Empty() && len(d.Params) == 0 {
		return buf.Bytes()
	}
	if len(d.Params) > 0 {
		fmt.Fprintf(&buf, "\nParams (%d changed)\n", d.ChangedParams())
		rows := [][]string{{"PARAM", "BASE", "HEAD", ""}}
		for _, p := range d.Params {
			base, head := p.paramCells()
			mark := ""
			if !p.Changed {
				mark = "(unchanged)"
			}
			rows = append(rows, []string{p.Key, base, head, mark})
		}
		writeTextTable(&buf, rows, nil)
	}
	if changed := d.ChangedMetrics(); len(changed) > 0 {
		fmt.Fprintf(&buf, "\nMetrics (%d of %d changed)\n", len(changed), len(d.Metrics))
		rows := [][]string{{"METRIC", "BASE", "HEAD", "CHANGE", ""}}
		for _, m := range changed {
			base, head, change := m.changeCells()
			rows = append(rows, []string{m.Key, base, head, change, m.Verdict})
		}
		writeTextTable(&buf, rows, []bool{false, true, true, true, false})
	}
	if len(d.Data) > 0 {
		fmt.Fprintf(&buf, "\nData (%d changed)\n", len(d.Data))
		rows := [][]string{{"DATA SET", "BASE OID", "HEAD OID"}}
		for _, c := range d.Data {
			rows = append(rows, []string{c.Key, shortKey(c.Old), shortKey(c.New)})
		}
		writeTextTable(&buf, rows, nil)
	}
	if d.Code.Changed() {
		fmt.Fprintf(&buf, "\nCode\n")
		rows := [][]string{{"", "BASE", "HEAD"}}
		for _, row := range d.codeRows() {
			rows = append(rows, row[:])
		}
		writeTextTable(&buf, rows, nil)
	}
	if len(d.Stages) > 0 {
		fmt.Fprintf(&buf, "\nStages with another cache key (%d)\n", len(d.Stages))
		rows := [][]string{{"STAGE", "BASE KEY", "HEAD KEY", "BASE STATUS", "HEAD STATUS"}}
		for _, s := range d.Stages {
			rows = append(rows, []string{s.Name, shortKey(s.OldKey), shortKey(s.NewKey), orNone(s.OldStatus), orNone(s.NewStatus)})
		}
		writeTextTable(&buf, rows, nil)
	}
	return buf.Bytes()
}

// writeTextTable writes rows as columns two spaces apart, indented by
// two, right-aligning the columns flagged in right (numbers); trailing
// spaces are trimmed.
func writeTextTable(b *bytes.Buffer, rows [][]string, right []bool) {
	var width []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		line.WriteString("  ")
		for i, cell := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			if i < len(right) && right[i] {
				line.WriteString(pad + cell)
			} else {
				line.WriteString(cell + pad)
			}
			line.WriteString("  ")
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
}

// codeRows are the code facts that differ: name, base, head.
func (d Diff) codeRows() [][3]string {
	c := d.Code
	rows := [][3]string{{"commit", ShortCommit(c.OldCommit, c.OldDirty), ShortCommit(c.NewCommit, c.NewDirty)}}
	if c.OldBranch != c.NewBranch {
		rows = append(rows, [3]string{"branch", orNone(c.OldBranch), orNone(c.NewBranch)})
	}
	if c.OldGo != c.NewGo {
		rows = append(rows, [3]string{"go", orNone(c.OldGo), orNone(c.NewGo)})
	}
	if c.OldDatalab != c.NewDatalab {
		rows = append(rows, [3]string{"datalab", orNone(c.OldDatalab), orNone(c.NewDatalab)})
	}
	return rows
}

func orNone(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// shortKey shortens a stage key or data oid for display.
func shortKey(k string) string {
	if k == "" {
		return "—"
	}
	k = strings.TrimPrefix(k, "sha256:")
	if len(k) > 12 {
		return k[:12]
	}
	return k
}

// collapseAt is the number of table rows above which Markdown puts a table
// in a collapsed <details> block, so a pull-request comment stays short.
const collapseAt = 10

// Markdown renders the diff as a pull-request comment: a summary line, the
// headline metrics, then tables of params, metrics, data, code and stage
// keys, long ones collapsed in <details>.
func (d Diff) Markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### Run diff: `%s` → `%s`\n\n", d.A.ID, d.B.ID)
	fmt.Fprintf(&b, "| | Run | Experiment | Status | Commit |\n|---|---|---|---|---|\n")
	for _, side := range []struct {
		name string
		r    RunInfo
	}{{"base", d.A}, {"head", d.B}} {
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | `%s` |\n", side.name, side.r.ID, mdCell(orNone(side.r.Experiment)), mdCell(side.r.Status), ShortCommit(side.r.Commit, side.r.Dirty))
	}
	fmt.Fprintf(&b, "\n**%s**\n", mdCell(d.Summary()))
	if d.Empty() && len(d.Params) == 0 {
		return b.Bytes()
	}
	var headline []MetricChange
	for _, k := range d.Headline {
		if m, ok := d.Metric(k); ok {
			headline = append(headline, m)
		}
	}
	if len(headline) > 0 {
		b.WriteString("\n")
		writeMetricTable(&b, "Headline metric", headline)
	}
	if len(d.Params) > 0 {
		fmt.Fprintf(&b, "\n#### Params (%d changed)\n\n", d.ChangedParams())
		var t bytes.Buffer
		t.WriteString("| Param | Base | Head |\n|---|---|---|\n")
		for _, p := range d.Params {
			base, head := p.paramCells()
			key := mdCode(p.Key)
			if !p.Changed {
				key += " (unchanged)"
			}
			fmt.Fprintf(&t, "| %s | %s | %s |\n", key, mdCell(base), mdCell(head))
		}
		writeCollapsible(&b, len(d.Params), plural(len(d.Params), "param"), t.Bytes())
	}
	if changed := d.ChangedMetrics(); len(changed) > 0 {
		fmt.Fprintf(&b, "\n#### Metrics (%d of %d changed)\n\n", len(changed), len(d.Metrics))
		var t bytes.Buffer
		writeMetricTable(&t, "Metric", changed)
		writeCollapsible(&b, len(changed), plural(len(changed), "changed metric"), t.Bytes())
	}
	if len(d.Data) > 0 {
		fmt.Fprintf(&b, "\n#### Data (%d changed)\n\n", len(d.Data))
		var t bytes.Buffer
		t.WriteString("| Data set | Base oid | Head oid |\n|---|---|---|\n")
		for _, c := range d.Data {
			fmt.Fprintf(&t, "| %s | `%s` | `%s` |\n", mdCode(c.Key), shortKey(c.Old), shortKey(c.New))
		}
		writeCollapsible(&b, len(d.Data), plural(len(d.Data), "data set"), t.Bytes())
	}
	if d.Code.Changed() {
		b.WriteString("\n#### Code\n\n| | Base | Head |\n|---|---|---|\n")
		for _, row := range d.codeRows() {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", row[0], mdCode(row[1]), mdCode(row[2]))
		}
	}
	if len(d.Stages) > 0 {
		fmt.Fprintf(&b, "\n#### Stages with another cache key (%d)\n\n", len(d.Stages))
		var t bytes.Buffer
		t.WriteString("| Stage | Base key | Head key | Base status | Head status |\n|---|---|---|---|---|\n")
		var names []string
		for _, s := range d.Stages {
			names = append(names, s.Name)
			fmt.Fprintf(&t, "| %s | `%s` | `%s` | %s | %s |\n", mdCell(s.Name), shortKey(s.OldKey), shortKey(s.NewKey), orNone(s.OldStatus), orNone(s.NewStatus))
		}
		// Stage keys matter less than params and metrics: always collapsed.
		fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n%s\n</details>\n", mdCell(strings.Join(names, ", ")), t.Bytes())
	}
	return b.Bytes()
}

func writeMetricTable(b *bytes.Buffer, title string, rows []MetricChange) {
	fmt.Fprintf(b, "| %s | Base | Head | Change | |\n|---|---:|---:|---:|---|\n", title)
	for _, m := range rows {
		base, head, change := m.changeCells()
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", mdCode(m.Key), base, head, change, verdictMark(m.Verdict))
	}
}

func verdictMark(v string) string {
	switch v {
	case "better":
		return "🟢 better"
	case "worse":
		return "🔴 worse"
	}
	return ""
}

// writeCollapsible writes a table, inside <details> when it has more than
// collapseAt rows.
func writeCollapsible(b *bytes.Buffer, rows int, summary string, table []byte) {
	if rows <= collapseAt {
		b.Write(table)
		return
	}
	fmt.Fprintf(b, "<details><summary>%s</summary>\n\n%s\n</details>\n", summary, table)
}

// mdCode writes text as a code span in a table cell: inside a code span
// HTML entities are not decoded, so only the pipe is escaped.
func mdCode(s string) string {
	return "`" + strings.NewReplacer("|", `\|`, "`", "'", "\n", " ").Replace(s) + "`"
}

// mdCell escapes text for a Markdown table cell: no pipes, no raw HTML, one
// line.
func mdCell(s string) string {
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "\n", " ", "\r", " ")
	return r.Replace(s)
}

// Text renders the gate outcome, one line per rule and metric: FAIL, ERROR
// or pass, with base, head and change.
func (g GateReport) Text() []byte {
	var b bytes.Buffer
	for _, r := range g.Results {
		fmt.Fprintf(&b, "%-5s %s\n", r.status(), r.Line())
	}
	fmt.Fprintf(&b, "gate: %s\n", g.summary())
	return b.Bytes()
}

// Markdown renders the gate outcome as a table for a pull-request comment.
func (g GateReport) Markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n#### Gate: %s\n\n| | Rule | Metric | Base | Head | Change |\n|---|---|---|---:|---:|---:|\n", g.summary())
	for _, r := range g.Results {
		mark := map[string]string{"FAIL": "❌", "ERROR": "⚠️", "pass": "✅"}[r.status()]
		if r.Err != "" {
			fmt.Fprintf(&b, "| %s | %s | %s | | | |\n", mark, mdCode(r.Rule), mdCell(r.Err))
			continue
		}
		change := FormatChange(r.Abs)
		if r.HasRel {
			change += " (" + FormatPercent(r.Rel) + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mark, mdCode(r.Rule), mdCode(r.Metric), FormatNumber(r.Base), FormatNumber(r.Head), change)
	}
	return b.Bytes()
}

func (r RuleResult) status() string {
	switch {
	case r.Err != "":
		return "ERROR"
	case r.Failed:
		return "FAIL"
	}
	return "pass"
}

func (g GateReport) summary() string {
	failed, errs := len(g.Failed()), len(g.Errors())
	switch {
	case errs > 0:
		return fmt.Sprintf("%s cannot be evaluated, %d failed, %d passed", plural(errs, "check"), failed, len(g.Passed()))
	case failed > 0:
		return fmt.Sprintf("failed — %d of %s failed", failed, plural(len(g.Results), "check"))
	}
	return fmt.Sprintf("passed — %s", plural(len(g.Results), "check"))
}
