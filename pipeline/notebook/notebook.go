// Package notebook runs the GoNB notebooks under notebooks/ headless and
// renders them into the report site (reports/notebooks/<name>.html, with a
// pipeline/report sidecar of Kind "notebook" so report.BuildIndex lists them).
//
// It sits at the end of the flow, beside pipeline/report: a notebook is a
// shell over the pipeline packages, and this package only executes it through
// `jupyter nbconvert --execute` with the GoNB kernel that .ci/setup builds
// into .bin/. Parameters reach the notebook as environment variables
// DATALAB_NB_<KEY> (papermill is not in Debian; the kernel inherits
// nbconvert's environment), and DATALAB_ROOT names the repository root so the
// notebook can point its module at the working tree.
package notebook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/report"
)

// Kind is the sidecar kind of every rendered notebook.
const Kind = "notebook"

// ParamPrefix starts the environment variable of each notebook parameter:
// parameter "sample" is DATALAB_NB_SAMPLE inside the notebook.
const ParamPrefix = "DATALAB_NB_"

// Runner executes notebooks. The zero value is not useful: set Root.
type Runner struct {
	// Root is the repository root: .bin/ (gonb, goimports) and jupyter/
	// (the kernelspec) are found under it, and notebooks see it as
	// DATALAB_ROOT.
	Root string
	// OutDir receives <name>.html and <name>.report.json; default
	// <Root>/reports/notebooks.
	OutDir string
	// Params become DATALAB_NB_<KEY> (key upper-cased) in the kernel's
	// environment.
	Params map[string]string
	// Jupyter is the jupyter executable; default "jupyter" from PATH.
	Jupyter string
	// ToolsDir holds gonb and goimports (first on the kernel's PATH);
	// default <Root>/.bin, where .ci/setup builds them.
	ToolsDir string
	// Now stamps the sidecar's created time; default time.Now. Tests and
	// byte-stable builds can fix it.
	Now func() time.Time
	// StableDir, when set, also receives <name>.html (no sidecar): the
	// pipeline stage's output, whose bytes depend only on the notebook and
	// its inputs.
	StableDir string
	// RunID, Commit and Dirty are recorded in the sidecar (the pipeline run
	// and the git state the notebook was rendered from).
	RunID, Commit string
	Dirty         bool
}

// MissingToolsError says which tools a notebook run needs and cannot find
// (jupyter, jupyter-nbconvert, the GoNB kernel and its kernelspec). It is
// returned before nbconvert starts.
type MissingToolsError struct {
	Missing []string
}

func (e *MissingToolsError) Error() string {
	return "notebook kernel missing: " + strings.Join(e.Missing, "; ") +
		" (install them with `bash .ci/setup notebooks`, which `make run` runs first)"
}

// ExitCode is 127, the shell's "command not found": a pipeline runner sees
// a command that cannot start and does not retry it (pipeline/stagerun).
func (e *MissingToolsError) ExitCode() int { return 127 }

// Result describes one rendered notebook.
type Result struct {
	HTML     string        // path of the rendered page
	Sidecar  string        // path of its report sidecar
	Duration time.Duration // wall time of the nbconvert run
}

// CellError is a notebook cell that failed during execution.
type CellError struct {
	Notebook string // notebook path
	Cell     int    // 1-based position among all cells, as Jupyter shows them; 0 if the source matched no cell
	Source   string // the cell's source, as nbconvert printed it
	Message  string // the kernel's error output (compiler errors, exit status)
}

func (e *CellError) Error() string {
	where := "a cell"
	if e.Cell > 0 {
		where = fmt.Sprintf("cell %d", e.Cell)
	}
	return fmt.Sprintf("notebook %s: %s failed: %s (open the notebook, fix the cell and re-run)", e.Notebook, where, e.Message)
}

// Name is the report name of the notebook at path: its file name without
// the .ipynb extension.
func Name(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

func (r Runner) outDir() string {
	if r.OutDir != "" {
		return r.OutDir
	}
	return filepath.Join(r.Root, "reports", "notebooks")
}

// Command is the nbconvert command that executes the notebook at nbPath and
// writes the executed notebook, outputs included, to dir/<name>.ipynb. Cell
// errors do not stop it (--allow-errors): Run reads them from the executed
// notebook, where a failing cell's stderr (a panic's message and stack) is
// kept, which nbconvert's own error report leaves out.
func (r Runner) Command(ctx context.Context, nbPath, dir string) (*exec.Cmd, error) {
	root, err := filepath.Abs(r.Root)
	if err != nil {
		return nil, fmt.Errorf("notebook root %s: %w", r.Root, err)
	}
	cmd := exec.CommandContext(ctx, r.jupyter(), "nbconvert",
		"--to", "notebook", "--execute", "--allow-errors",
		"--output-dir", dir, "--output", Name(nbPath)+".ipynb", nbPath)
	cmd.Env = r.env(root)
	return cmd, nil
}

// htmlCommand renders the executed notebook at executed as dir/<name>.html.
func (r Runner) htmlCommand(ctx context.Context, executed, dir string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.jupyter(), "nbconvert",
		"--to", "html", "--template", "datalab",
		"--output-dir", dir, "--output", Name(executed), executed)
	return cmd
}

func (r Runner) jupyter() string {
	if r.Jupyter == "" {
		return "jupyter"
	}
	return r.Jupyter
}

// toolsDir is ToolsDir made absolute, default <root>/.bin.
func (r Runner) toolsDir(root string) string {
	if r.ToolsDir == "" {
		return filepath.Join(root, ".bin")
	}
	if abs, err := filepath.Abs(r.ToolsDir); err == nil {
		return abs
	}
	return r.ToolsDir
}

// ModeEnv is nbview.ModeEnv (not imported: nbview pulls GoNB's gonbui into
// every binary that links the runner).
const ModeEnv = "DATALAB_NOTEBOOK_MODE"

// env is the process environment with the tool paths and parameters set.
func (r Runner) env(root string) []string {
	set := map[string]string{
		"PATH":         r.toolsDir(root) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"JUPYTER_PATH": filepath.Join(root, "jupyter"),
		"GOTOOLCHAIN":  "local",
		"DATALAB_ROOT": root,
		// The kernelspec passes --raw_error to gonb when this is set: plain
		// text errors, which firstCellError reads, instead of HTML.
		"DATALAB_GONB_RAW_ERROR": "1",
		// Cells offering a widget show their static form
		// (nbview.Interactive).
		ModeEnv: "headless",
	}
	for k, v := range r.Params {
		set[ParamPrefix+strings.ToUpper(k)] = v
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+set[k])
	}
	return env
}

// Run executes the notebook at nbPath and publishes its HTML and sidecar
// atomically into the output directory. A failing cell is a *CellError; the
// previous rendering, if any, is left in place.
func (r Runner) Run(ctx context.Context, nbPath string) (Result, error) {
	var res Result
	if err := r.CheckTools(); err != nil {
		return res, err
	}
	decls, err := ReadParamDecls(nbPath)
	if err != nil {
		return res, err
	}
	params := ParamValues(decls, r.Params)
	tmp, err := os.MkdirTemp("", "datalab-notebook-")
	if err != nil {
		return res, fmt.Errorf("run notebook %s: %w", nbPath, err)
	}
	defer os.RemoveAll(tmp)
	cmd, err := r.Command(ctx, nbPath, tmp)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := r.nbconvert(ctx, cmd, nbPath); err != nil {
		return res, err
	}
	executed := filepath.Join(tmp, Name(nbPath)+".ipynb")
	if ce, err := firstCellError(nbPath, executed); err != nil {
		return res, err
	} else if ce != nil {
		res.Duration = time.Since(start)
		return res, ce
	}
	if err := injectParams(executed, params); err != nil {
		return res, fmt.Errorf("run notebook %s: %w", nbPath, err)
	}
	toHTML := r.htmlCommand(ctx, executed, tmp)
	toHTML.Env = cmd.Env
	if err := r.nbconvert(ctx, toHTML, nbPath); err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	page, err := os.ReadFile(filepath.Join(tmp, Name(nbPath)+".html"))
	if err != nil {
		return res, fmt.Errorf("run notebook %s: nbconvert wrote no HTML: %w", nbPath, err)
	}
	page = InsertTOC(page)
	if r.StableDir != "" {
		if err := writeFile(filepath.Join(r.StableDir, Name(nbPath)+".html"), page); err != nil {
			return res, err
		}
	}
	res.HTML = filepath.Join(r.outDir(), Name(nbPath)+".html")
	res.Sidecar = report.SidecarPath(res.HTML)
	if err := writeFile(res.HTML, page); err != nil {
		return res, err
	}
	side, err := r.sidecar(nbPath, page, params)
	if err != nil {
		return res, err
	}
	if err := writeFile(res.Sidecar, side); err != nil {
		return res, err
	}
	return res, nil
}

// CheckTools returns a *MissingToolsError naming every tool a notebook run
// needs and cannot find: the jupyter command and jupyter-nbconvert, gonb and
// goimports (in ToolsDir or on PATH, as the kernel's PATH has them), and the
// kernelspec jupyter/kernels/gonb/kernel.json under Root. Without this check
// a missing kernel surfaced only after nbconvert timed out starting it,
// with a message that did not say what to install.
func (r Runner) CheckTools() error {
	root, err := filepath.Abs(r.Root)
	if err != nil {
		return fmt.Errorf("notebook root %s: %w", r.Root, err)
	}
	var path string
	for _, kv := range r.env(root) {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	var missing []string
	jupyter, ok := lookPath(r.jupyter(), path)
	if !ok {
		missing = append(missing, r.jupyter()+" not found (Debian package jupyter-nbconvert)")
	} else if _, ok := lookPath("jupyter-nbconvert", filepath.Dir(jupyter)+string(os.PathListSeparator)+path); !ok {
		missing = append(missing, "jupyter-nbconvert not found (Debian package jupyter-nbconvert)")
	}
	for _, tool := range []string{"gonb", "goimports"} {
		if _, ok := lookPath(tool, path); !ok {
			missing = append(missing, tool+" not found in "+r.toolsDir(root)+" or on PATH")
		}
	}
	spec := filepath.Join(root, "jupyter", "kernels", "gonb", "kernel.json")
	if _, err := os.Stat(spec); err != nil {
		missing = append(missing, "kernelspec "+spec+" not found (run from the repository root)")
	}
	if len(missing) > 0 {
		return &MissingToolsError{Missing: missing}
	}
	return nil
}

// lookPath finds an executable file called name in the directories of
// path (a PATH value), or takes name as a path when it has a separator.
func lookPath(name, path string) (string, bool) {
	isExec := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
	}
	if strings.ContainsRune(name, os.PathSeparator) {
		return name, isExec(name)
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, name); isExec(p) {
			return p, true
		}
	}
	return "", false
}

// nbconvert runs cmd and turns its failure into an error that says what to
// do: a cell error nbconvert reported itself (a kernel that died), missing
// tools, or the tail of its output.
func (r Runner) nbconvert(ctx context.Context, cmd *exec.Cmd, nbPath string) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	if runErr == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("run notebook %s: %w", nbPath, ctxErr)
	}
	if ce := parseCellError(nbPath, out.String()); ce != nil {
		return ce
	}
	var ee *exec.Error
	if errors.As(runErr, &ee) {
		return fmt.Errorf("run notebook %s: %w (install jupyter-nbconvert and jupyter-client: bash .ci/setup)", nbPath, runErr)
	}
	return fmt.Errorf("run notebook %s: %w\n%s", nbPath, runErr, lastLines(out.String(), 20))
}

// ansiEscape matches the terminal colour codes GoNB puts in stack traces.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// firstCellError reads the executed notebook and returns the first code cell
// with an error output, or nil when every cell ran. The message is the
// cell's stderr (a panic and its stack) followed by the error's traceback
// (the compiler's message with the offending line) unless the stderr
// already carries the error.
func firstCellError(nbPath, executed string) (*CellError, error) {
	data, err := os.ReadFile(executed)
	if err != nil {
		return nil, fmt.Errorf("run notebook %s: nbconvert wrote no executed notebook: %w", nbPath, err)
	}
	var nb struct {
		Cells []struct {
			Type    string          `json:"cell_type"`
			Source  json.RawMessage `json:"source"`
			Outputs []struct {
				Type      string          `json:"output_type"`
				Name      string          `json:"name"`
				Text      json.RawMessage `json:"text"`
				EValue    string          `json:"evalue"`
				Traceback []string        `json:"traceback"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("run notebook %s: executed notebook: %w", nbPath, err)
	}
	for i, c := range nb.Cells {
		var stderr strings.Builder
		for _, o := range c.Outputs {
			if o.Type == "stream" && o.Name == "stderr" {
				stderr.WriteString(cellSource(o.Text))
			}
		}
		for _, o := range c.Outputs {
			if o.Type != "error" {
				continue
			}
			// The stderr (a panic and its stack, or whatever the cell logged)
			// and the error itself, unless the stderr already carries it.
			msg := stderr.String()
			detail := strings.Join(o.Traceback, "\n")
			if strings.TrimSpace(detail) == "" {
				detail = o.EValue
			}
			if !strings.Contains(msg, strings.TrimSpace(o.EValue)) || strings.TrimSpace(msg) == "" {
				msg = strings.TrimRight(msg, "\n") + "\n" + detail
			}
			msg = strings.TrimSpace(ansiEscape.ReplaceAllString(msg, ""))
			if msg == "" {
				msg = "no error output"
			}
			return &CellError{Notebook: nbPath, Cell: i + 1, Source: cellSource(c.Source), Message: msg}, nil
		}
	}
	return nil, nil
}

var titleRE = regexp.MustCompile(`(?is)<title>(.*?)</title>`)

// Sidecar is a rendered notebook's sidecar: the report index entry plus the
// parameters the run used.
type Sidecar struct {
	report.Sidecar
	Params []ParamValue `json:"params"`
}

// ReadSidecar reads a rendered notebook's sidecar file.
func ReadSidecar(path string) (Sidecar, error) {
	return report.ReadSidecarAs[Sidecar](path)
}

// sidecar is the report index entry of the rendered page: the title is the
// page's own (nbconvert uses the notebook name), the time the render time,
// and the parameters those the page shows.
func (r Runner) sidecar(nbPath string, page []byte, params []ParamValue) ([]byte, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	created := now().UTC().Truncate(time.Second)
	title := Name(nbPath)
	if m := titleRE.FindSubmatch(page); m != nil && len(bytes.TrimSpace(m[1])) > 0 {
		title = string(bytes.TrimSpace(m[1]))
	}
	if params == nil {
		params = []ParamValue{} // "params": [] says the notebook takes none
	}
	s := Sidecar{Sidecar: report.Sidecar{Kind: Kind, Title: title, HTML: Name(nbPath) + ".html", Created: &created,
		RunID: r.RunID, Commit: r.Commit, Dirty: r.Dirty}, Params: params}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("notebook %s sidecar: %w", nbPath, err)
	}
	return append(data, '\n'), nil
}

func writeFile(path string, data []byte) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

const (
	cellErrorMarker = "CellExecutionError: An error occurred while executing the following cell:\n"
	separator       = "------------------\n"
)

// pythonWarning matches the warnings Python prints to the same stderr
// (e.g. nbformat's MissingIDFieldWarning); they are not the cell's error.
var pythonWarning = regexp.MustCompile(`(?m)^\S+\.py:\d+: \w*Warning:.*$`)

// parseCellError reads nbclient's CellExecutionError report:
//
//	…CellExecutionError: An error occurred while executing the following cell:
//	------------------
//	<cell source>
//	------------------
//
//	<error output>
//
// and finds the failing cell's position by its source. It returns nil when
// the output holds no such report.
func parseCellError(nbPath, out string) *CellError {
	i := strings.LastIndex(out, cellErrorMarker)
	if i < 0 {
		return nil
	}
	rest := strings.TrimPrefix(out[i+len(cellErrorMarker):], separator)
	source, msg, ok := strings.Cut(rest, "\n"+separator)
	if !ok {
		return nil
	}
	if loc := pythonWarning.FindStringIndex(msg); loc != nil {
		msg = msg[:loc[0]]
	}
	ce := &CellError{Notebook: nbPath, Source: source, Message: strings.TrimSpace(msg)}
	if ce.Message == "" {
		ce.Message = "no error output"
	}
	ce.Cell = cellNumber(nbPath, source)
	return ce
}

// cellNumber is the 1-based position of the cell whose source is source,
// or 0 when the notebook cannot be read or no cell matches.
func cellNumber(nbPath, source string) int {
	data, err := os.ReadFile(nbPath)
	if err != nil {
		return 0
	}
	var nb struct {
		Cells []struct {
			Type   string          `json:"cell_type"`
			Source json.RawMessage `json:"source"`
		} `json:"cells"`
	}
	if json.Unmarshal(data, &nb) != nil {
		return 0
	}
	want := strings.TrimSpace(source)
	for i, c := range nb.Cells {
		if c.Type == "code" && strings.TrimSpace(cellSource(c.Source)) == want {
			return i + 1
		}
	}
	return 0
}

// cellSource joins a cell source, which nbformat stores as a string or a
// list of lines.
func cellSource(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var lines []string
	if json.Unmarshal(raw, &lines) == nil {
		return strings.Join(lines, "")
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
