package notebook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// nameRE is a new notebook's name: kebab-case, so it is a safe file name,
// a report page name and a cell id prefix at once.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// maxNameLen keeps "<name>-<n>" within nbformat's 64-character cell ids.
const maxNameLen = 60

// CheckName returns an error saying what is wrong with name as the name of
// a new notebook (notebooks/<name>.ipynb): it must be kebab-case, lower-case
// letters and digits in words joined by single hyphens, starting with a
// letter, at most 60 characters.
func CheckName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("notebook name %q: %d characters, want at most %d", name, len(name), maxNameLen)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("notebook name %q: want kebab-case, lower-case letters and digits in words joined by hyphens, starting with a letter (e.g. goals-by-year)", name)
	}
	return nil
}

// Create writes a new notebook dir/<name>.ipynb from New(name) and returns
// its path. It refuses to overwrite a notebook that exists.
func Create(dir, name string) (string, error) {
	data, err := New(name)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("notebook directory %s: not found (run from the repository root, or name an existing directory)", dir)
	}
	path := filepath.Join(dir, name+".ipynb")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("notebook %s exists already: open it with `datalab lab`, or choose another name", path)
	}
	if err != nil {
		return "", fmt.Errorf("create notebook %s: %w", path, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a half-written notebook would block the next attempt
		return "", fmt.Errorf("create notebook %s: %w", path, err)
	}
	return path, nil
}

// NewParams are the parameters a new notebook declares and reads.
var NewParams = []ParamDecl{
	{Name: "matches", Default: "build/parquet/matches.parquet under the repository",
		Help: "the matches Parquet file (datalab run ingest-matches writes it)"},
	{Name: "sample", Default: "all rows", Help: "use only the first n matches (the file is in date order: the earliest n)"},
}

// New is a new GoNB notebook called name (nbformat 4.5, kernel gonb, JSON
// as Jupyter writes it): a title, its parameters (NewParams) described,
// declared in metadata.datalab.parameters and read in a parameters cell with
// nbview.Param and nbview.IntParam, and a first cell with the imports a
// notebook of this repository starts with that loads the ingested matches
// and shows a gota table and a gonum plot. The same name gives the same
// bytes.
func New(name string) ([]byte, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	title := strings.ToUpper(name[:1]) + strings.ReplaceAll(name[1:], "-", " ")
	cells := []map[string]any{
		markdownCell("# " + title + `

What this notebook looks at, and what a reader should take from it.

Edit it live with ` + "`datalab lab`" + `; ` + "`datalab notebooks run " + name + "`" + ` executes it headless and
renders reports/notebooks/` + name + `.html for the report site. Each cell is a fresh Go
program: declarations (imports, types, functions, variables) carry over to
later cells, values computed in a cell's body (after ` + "`%%`" + `) do not.`),
		markdownCell(`## Parameters

` + "`datalab notebooks run --param k=v " + name + "`" + ` sets ` + "`DATALAB_NB_K=v`" + ` for the kernel; the
next cell reads the parameters with ` + "`nbview.Param`" + ` and ` + "`nbview.IntParam`" + `. Each one is
also declared in the notebook's metadata (` + "`metadata.datalab.parameters`" + `: name,
default, help), from which the rendered page lists the values of its run:
declare every parameter you add.

- ` + "`matches`" + `: the matches Parquet file (default ` + "`build/parquet/matches.parquet`" + ` under the
  repository, which ` + "`datalab run ingest-matches`" + ` writes);
- ` + "`sample`" + `: use only the first *n* matches (default: all).`),
		codeCell([]string{"parameters"}, `import "github.com/datalabhq/datalab/pipeline/nbview"

// The parameters of this notebook: every later cell sees them.
var (
	matchesPath = nbview.Param("matches", nbview.Path("build", "parquet", "matches.parquet"))
	sample      = nbview.Must(nbview.IntParam("sample", 0)) // 0: all rows
)`),
		markdownCell(`## A first look

The matches as ` + "`datalab run ingest-matches`" + ` wrote them, read with the pipeline's own
reader (` + "`ingest.ReadMatches`" + `), in a [gota](https://github.com/go-gota/gota) DataFrame:
the goals per match, then their mean by year drawn with gonum/plot.`),
		codeCell(nil, `import (
	"fmt"

	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/nbview"
	"github.com/go-gota/gota/dataframe"
	"github.com/janpfeifer/gonb/gonbui"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

var matches []ingest.MatchRow

// init_matches runs before every later cell: each one sees the matches.
func init_matches() {
	nbview.Quiet()
	rows, err := ingest.ReadMatches(matchesPath)
	if err != nil {
		panic(fmt.Sprintf("%v (run `+"`datalab run ingest-matches`"+` first, or set --param matches=FILE)", err))
	}
	if len(rows) == 0 {
		panic(matchesPath + " holds no matches")
	}
	if sample > 0 && sample < len(rows) {
		rows = rows[:sample]
	}
	matches = rows
}

// goals is a match as a row of the DataFrame.
type goals struct {
	Year  int `+"`dataframe:\"year\"`"+`
	Home  int `+"`dataframe:\"home_goals\"`"+`
	Away  int `+"`dataframe:\"away_goals\"`"+`
	Total int `+"`dataframe:\"goals\"`"+`
}

// goalsFrame is the matches as a DataFrame of goals.
func goalsFrame() dataframe.DataFrame {
	rows := make([]goals, len(matches))
	for i, m := range matches {
		rows[i] = goals{Year: m.Date.Time().Year(), Home: int(m.HomeTeamScore), Away: int(m.AwayTeamScore),
			Total: int(m.HomeTeamScore + m.AwayTeamScore)}
	}
	return dataframe.LoadStructs(rows)
}

%%
// Everything displays through gonbui (nbview.Show*): mixed with fmt.Print
// in one cell, the order on the page can change from run to run.
nbview.ShowHTML(fmt.Sprintf("<p>%d matches, %s to %s</p>", len(matches), matches[0].Date, matches[len(matches)-1].Date))
df := goalsFrame()
nbview.ShowHTML(nbview.Table(df.Select([]string{"home_goals", "away_goals", "goals"}).Describe()))

byYear := df.GroupBy("year").Aggregation([]dataframe.AggregationType{dataframe.Aggregation_MEAN}, []string{"goals"}).
	Arrange(dataframe.Sort("year"))
years, means := byYear.Col("year").Float(), byYear.Col("goals_MEAN").Float()
xys := make(plotter.XYs, len(years))
for i := range years {
	xys[i].X, xys[i].Y = years[i], means[i]
}
p := plot.New()
p.Title.Text = "Goals per match by year"
p.X.Label.Text, p.Y.Label.Text = "year", "mean goals per match"
line := nbview.Must(plotter.NewLine(xys))
p.Add(line)
nbview.Show(p, 8, 3)
gonbui.Sync()`),
	}
	for i, c := range cells {
		c["id"] = fmt.Sprintf("%s-%d", name, i+1)
	}
	var params []map[string]string
	for _, d := range NewParams {
		params = append(params, map[string]string{"name": d.Name, "default": d.Default, "help": d.Help})
	}
	nb := map[string]any{
		"cells": cells,
		"metadata": map[string]any{
			"kernelspec":    map[string]string{"display_name": "Go (GoNB)", "language": "go", "name": "gonb"},
			"language_info": map[string]string{"name": "go"},
			"datalab":       map[string]any{"parameters": params},
		},
		"nbformat":       4,
		"nbformat_minor": 5,
	}
	// Jupyter's own layout (sorted keys, one-space indent, characters
	// unescaped), so saving the notebook in Jupyter changes only what was
	// edited.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(nb); err != nil {
		return nil, fmt.Errorf("new notebook %s: %w", name, err)
	}
	return b.Bytes(), nil
}

func markdownCell(source string) map[string]any {
	return map[string]any{"cell_type": "markdown", "metadata": map[string]any{}, "source": sourceLines(source)}
}

func codeCell(tags []string, source string) map[string]any {
	meta := map[string]any{}
	if len(tags) > 0 {
		meta["tags"] = tags
	}
	return map[string]any{"cell_type": "code", "execution_count": nil, "metadata": meta,
		"outputs": []any{}, "source": sourceLines(source)}
}

// sourceLines splits a cell source into lines that keep their "\n", as
// nbformat stores them.
func sourceLines(s string) []string {
	return strings.SplitAfter(s, "\n")
}
