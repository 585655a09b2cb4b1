package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/internal/testlog"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// labTools is notebookTools plus Jupyter's notebook server, which `datalab
// lab` runs: the test skips locally without them and fails under CI.
func labTools(t *testing.T) string {
	t.Helper()
	tools := notebookTools(t)
	if _, err := exec.LookPath("jupyter-notebook"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("jupyter-notebook missing under CI (bash .ci/setup lab installs it)")
		}
		t.Skip("jupyter-notebook missing (bash .ci/setup lab installs it)")
	}
	return tools
}

var labTreeURL = regexp.MustCompile(`http://127\.0\.0\.1:\d+/tree\?token=[0-9a-f]{48}`)

// TestLabRunsNotebookInBrowser starts `datalab lab` on a checkout and uses
// the notebook server as a person would, in Chromium: open
// matches-explore from the notebook list, run all cells with the GoNB
// kernel (selected from the notebook's metadata), see its tables and PNG
// figures without errors, add a cell that plots a value, change the value
// and see a different figure; then Ctrl-C stops the server and its kernels.
func TestLabRunsNotebookInBrowser(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts Jupyter and compiles every notebook cell")
	}
	tools := labTools(t)
	b := browsertest.New(t, 15*time.Minute)
	bin := buildDatalab(t)
	root := checkout(t)
	ds, _ := ingest.Lookup("matches")
	matches := filepath.Join(t.TempDir(), "matches.parquet")
	if _, err := ingest.Run(t.Context(), ds, ingest.Config{Inputs: []string{testmirror.Path(t, "matches", "international_matches.csv")},
		Output: matches, MaxBadRatio: ingest.DefaultMaxBadRatio}); err != nil {
		t.Fatalf("ingest matches: %v", err)
	}

	lab := startLab(t, bin, root, tools, "--param", "matches="+matches)
	cmd, stderr := lab.cmd, &lab.stderr
	for _, want := range []string{
		`path=build/parquet/martj42.parquet "make it with"="datalab run ingest-martj42"`,
		`path=build/models/matches "make it with"="datalab run train-matches"`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks the missing-input warning %q:\n%s", want, stderr.String())
		}
	}

	openLabNotebook(t, b, lab.tree, "matches-explore")

	runStart := time.Now()
	b.Do(t, chromedp.Evaluate[chromedp.Void](`Jupyter.notebook.clear_all_output(); Jupyter.notebook.execute_all_cells(); true`))
	ran := browsertest.Get(t, b, chromedp.Poll[int](`(() => {
		const cells = Jupyter.notebook.get_cells().filter(c => c.cell_type === 'code');
		const done = cells.every(c => typeof c.input_prompt_number === 'number');
		const idle = document.querySelector('#kernel_indicator_icon').classList.contains('kernel_idle_icon');
		return done && idle && !Jupyter.notebook.kernel_busy ? cells.length : 0;
	})()`, chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(10*time.Minute)))
	t.Logf("ran %d code cells in %v", ran, time.Since(runStart).Round(time.Second))

	errs := browsertest.Get(t, b, chromedp.Evaluate[[]string](`Jupyter.notebook.get_cells().flatMap((c, i) =>
		c.cell_type !== 'code' ? [] : c.output_area.outputs.filter(o => o.output_type === 'error')
			.map(o => 'cell ' + (i + 1) + ': ' + o.ename + ': ' + o.evalue + '\n' + (o.traceback || []).join('\n') + '\n' +
				JSON.stringify(c.output_area.outputs).slice(0, 3000)))`))
	if n := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll('.output_error').length`)); n > 0 || len(errs) > 0 {
		t.Fatalf("%d error outputs shown; errors:\n%s", n, strings.Join(errs, "\n"))
	}
	if n := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll('.output_png img[src^="data:image/png;base64,"]').length`)); n < 1 {
		t.Errorf("no PNG figure shown")
	}
	cells := browsertest.Get(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.output_html table td')).map(td => td.textContent.trim()).filter(s => s !== '')`))
	if len(cells) == 0 {
		t.Errorf("no table with filled cells shown")
	}
	if !strings.Contains(strings.Join(cells, "\n"), "Friendly") {
		t.Errorf("tables lack the Friendly tournament of the matches data set: %q", cells)
	}

	// A new cell plotting a value; the same cell with another value must
	// show another figure.
	idx := browsertest.Get(t, b, chromedp.Evaluate[int](`(() => {
		const c = Jupyter.notebook.insert_cell_at_bottom('code');
		const i = Jupyter.notebook.find_cell_index(c);
		Jupyter.notebook.select(i);
		return i;
	})()`))
	first := runLabCell(t, b, idx, 3, 0)
	second := runLabCell(t, b, idx, 9, first.Count)
	if first.PNG == second.PNG {
		t.Errorf("the figure did not change when the plotted value went from 3 to 9")
	}
	for _, png := range []string{first.PNG, second.PNG} {
		data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(png, "data:image/png;base64,"))
		if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("figure is not a PNG (%v): %.40q", err, png)
		}
	}

	// Ctrl-C: the server stops, its kernels with it, datalab lab exits 0.
	kernels := gonbDescendants(cmd.Process.Pid)
	if len(kernels) == 0 {
		t.Fatalf("no gonb process under datalab lab (pid %d) while a notebook is open", cmd.Process.Pid)
	}
	stopStart := time.Now()
	lab.stop(t)
	t.Logf("stopped in %v", time.Since(stopStart).Round(time.Millisecond))
	for _, pid := range kernels {
		if cmdline, alive := liveProcess(pid); alive && strings.Contains(cmdline, "gonb") {
			t.Errorf("kernel pid %d still running after datalab lab exited: %s", pid, cmdline)
		}
	}
}

// labServer is a running `datalab lab`.
type labServer struct {
	cmd     *exec.Cmd
	tree    string // the printed /tree?token=… URL
	stdout  testlog.Buffer
	stderr  testlog.Buffer
	done    chan struct{} // closed when the command exited
	waitErr error         // its exit, once done is closed
}

// startLab starts `datalab lab --no-browser --port 0` in root with the
// tools in tools and extra args, and waits for its URL. A failing test
// still stops the server the way a person would (SIGINT), and kills
// datalab lab only if that hangs.
func startLab(t *testing.T, bin, root, tools string, args ...string) *labServer {
	t.Helper()
	l := &labServer{done: make(chan struct{})}
	l.cmd = exec.Command(bin, append([]string{"lab", "--no-browser", "--port", "0", "--tools-dir", tools}, args...)...)
	l.cmd.Dir = root
	l.cmd.Env = append(os.Environ(), "DATALAB_LAB_PORT=", "DATALAB_LAB_NO_BROWSER=")
	l.cmd.Stdout, l.cmd.Stderr = &l.stdout, &l.stderr
	start := time.Now()
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		l.waitErr = l.cmd.Wait()
		close(l.done)
	}()
	t.Cleanup(func() {
		select {
		case <-l.done:
			return
		default:
		}
		l.cmd.Process.Signal(os.Interrupt)
		select {
		case <-l.done:
		case <-time.After(time.Minute):
			l.cmd.Process.Kill()
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("datalab lab stderr (server and kernel log):\n%s", l.stderr.String())
		}
	})
	if !testwait.Poll(2*time.Minute, 100*time.Millisecond, func() bool {
		if l.tree = labTreeURL.FindString(l.stdout.String()); l.tree != "" {
			return true
		}
		select {
		case <-l.done:
			t.Fatalf("datalab lab exited before printing the URL: %v\nstdout:\n%s\nstderr:\n%s", l.waitErr, l.stdout.String(), l.stderr.String())
		default:
		}
		return false
	}) {
		t.Fatalf("no URL from datalab lab in 2 minutes\nstdout:\n%s\nstderr:\n%s", l.stdout.String(), l.stderr.String())
	}
	t.Logf("server answered after %v: %s", time.Since(start).Round(time.Millisecond), l.tree)
	return l
}

// stop sends SIGINT (Ctrl-C) and wants datalab lab to exit 0.
func (l *labServer) stop(t *testing.T) {
	t.Helper()
	if err := l.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.done:
		if l.waitErr != nil {
			t.Fatalf("datalab lab after SIGINT: %v\nstderr:\n%s", l.waitErr, l.stderr.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("datalab lab still running 90s after SIGINT\nstderr:\n%s", l.stderr.String())
	}
}

// openLabNotebook opens notebooks/<name>.ipynb from the server's notebook
// list (its link opens a new tab, so the test follows the link's address in
// this one) and waits until the GoNB kernel is connected.
func openLabNotebook(t *testing.T, b *browsertest.Browser, tree, name string) {
	t.Helper()
	link := fmt.Sprintf(`#notebook_list a[href$="/%s.ipynb"]`, name)
	b.Do(t, chromedp.Navigate(tree), chromedp.WaitVisible(link))
	nbURL := browsertest.Get(t, b, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s).href`, strconv.Quote(link))))
	b.Do(t, chromedp.Navigate(nbURL))
	kernel := browsertest.Get(t, b, chromedp.Poll[string](
		`window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected() && Jupyter.notebook.kernel.name`,
		chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(2*time.Minute)))
	if kernel != "gonb" {
		t.Fatalf("notebook kernel %q, want gonb", kernel)
	}
}

// checkLabModelVariants is the README's interactive path on a pipeline
// that has run (make run, then make lab): open model-variants in the lab,
// run its set-up cell and the "Try a depth yourself" cell, see the figure
// at depth 6, move the cell's slider (a GoNB widget) and see the figure
// refitted at the new depth, then change `depth := 6` in the cell, run it
// again and see that figure; Ctrl-C stops the lab.
func checkLabModelVariants(t *testing.T, bin, dir, tools string) {
	t.Helper()
	b := browsertest.New(t, 10*time.Minute)
	lab := startLab(t, bin, dir, tools)
	openLabNotebook(t, b, lab.tree, "model-variants")
	cellIndex := func(marker string) int {
		i := browsertest.Get(t, b, chromedp.Evaluate[int](fmt.Sprintf(
			`Jupyter.notebook.get_cells().findIndex(c => c.cell_type === 'code' && c.get_text().includes(%s))`, strconv.Quote(marker))))
		if i < 0 {
			t.Fatalf("model-variants has no code cell with %q", marker)
		}
		return i
	}
	setup, depth := cellIndex("func build("), cellIndex("depth := 6")
	// figure waits until cell idx shows the depth figure for maxDepth d
	// (the widget's <img alt="maxDepth d">) and returns its data URL.
	figure := func(idx, d int) string {
		return browsertest.Get(t, b, chromedp.Poll[string](fmt.Sprintf(`(() => {
			const c = Jupyter.notebook.get_cell(%d);
			const err = c.output_area.outputs.find(o => o.output_type === 'error');
			if (err) return 'error: ' + err.ename + ': ' + err.evalue + '\n' + (err.traceback || []).join('\n');
			const img = c.output_area.element[0].querySelector('img[alt="maxDepth %d"]');
			return img ? img.src : null;
		})()`, idx, d), chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(4*time.Minute)))
	}
	b.Do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`Jupyter.notebook.get_cell(%d).execute(); true`, setup)))
	browsertest.Get(t, b, chromedp.Poll[bool](fmt.Sprintf(`typeof Jupyter.notebook.get_cell(%d).input_prompt_number === 'number' && !Jupyter.notebook.kernel_busy`, setup),
		chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(4*time.Minute)))
	b.Do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`Jupyter.notebook.get_cell(%d).execute(); true`, depth)))
	at6 := figure(depth, 6)
	if !strings.HasPrefix(at6, "data:image/png;base64,") {
		t.Fatalf("the depth cell shows no figure at maxDepth 6: %.2000s", at6)
	}
	// The slider: set it as a drag would and fire its change event.
	moved := browsertest.Get(t, b, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const s = Jupyter.notebook.get_cell(%d).output_area.element[0].querySelector('input[type=range]');
		if (!s) return false;
		s.value = 3;
		s.dispatchEvent(new Event('change'));
		return true;
	})()`, depth)))
	if !moved {
		t.Fatal("the depth cell shows no slider in the lab")
	}
	at3 := figure(depth, 3)
	if !strings.HasPrefix(at3, "data:image/png;base64,") || at3 == at6 {
		t.Fatalf("moving the slider to 3 did not redraw the figure: %.200s", at3)
	}
	// Edit the parameter line and run the cell again (interrupting the
	// slider's listening loop first, as a person presses ■).
	b.Do(t, chromedp.Evaluate[chromedp.Void](`Jupyter.notebook.kernel.interrupt(); true`))
	browsertest.Get(t, b, chromedp.Poll[bool]("!Jupyter.notebook.kernel_busy", chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
	b.Do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const c = Jupyter.notebook.get_cell(%d);
		c.set_text(c.get_text().replace('depth := 6', 'depth := 10'));
		c.clear_output();
		c.execute();
		return true;
	})()`, depth)))
	at10 := figure(depth, 10)
	if !strings.HasPrefix(at10, "data:image/png;base64,") || at10 == at6 || at10 == at3 {
		t.Fatalf("depth := 10 did not draw a new figure: %.200s", at10)
	}
	b.Do(t, chromedp.Evaluate[chromedp.Void](`Jupyter.notebook.kernel.interrupt(); true`))
	lab.stop(t)
}

// labCell is what a cell run in the lab showed.
type labCell struct {
	Count int    // execution count
	PNG   string // data: URL of its figure
}

// runLabCell sets cell idx to a bar plot of value, runs it and waits until
// it has an execution count above after and shows a figure.
func runLabCell(t *testing.T, b *browsertest.Browser, idx, value, after int) labCell {
	t.Helper()
	src := fmt.Sprintf("%%%%\nnbview.Show(nbview.Must(nbview.Bars(\"lab\", \"n\", []string{\"a\", \"b\"}, []float64{3, %d})), 4, 3)", value)
	b.Do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const c = Jupyter.notebook.get_cell(%d);
		c.set_text(%s);
		c.execute();
		return true;
	})()`, idx, strconv.Quote(src))))
	got := browsertest.Get(t, b, chromedp.Poll[struct {
		Count int
		PNG   string
		Error string
	}](fmt.Sprintf(`(() => {
		const c = Jupyter.notebook.get_cell(%d);
		if (typeof c.input_prompt_number !== 'number' || c.input_prompt_number <= %d) return null;
		const err = c.output_area.outputs.find(o => o.output_type === 'error');
		const img = c.output_area.element[0].querySelector('.output_png img');
		if (!err && !img) return null;
		return {Count: c.input_prompt_number, PNG: img ? img.src : '', Error: err ? err.ename + ': ' + err.evalue + '\n' + (err.traceback || []).join('\n') : ''};
	})()`, idx, after), chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(4*time.Minute)))
	if got.Error != "" {
		t.Fatalf("cell with value %d failed: %s", value, got.Error)
	}
	return labCell{Count: got.Count, PNG: got.PNG}
}

// gonbDescendants are the gonb processes below pid (the kernels datalab
// lab's server started), from /proc.
func gonbDescendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := procPPID(p); ok {
			parent[p] = ppid
		}
	}
	var out []int
	for p := range parent {
		cmdline, alive := liveProcess(p)
		if !alive || !strings.HasPrefix(filepath.Base(strings.SplitN(cmdline, " ", 2)[0]), "gonb") {
			continue
		}
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// procPPID reads the parent pid from /proc/<pid>/stat.
func procPPID(pid int) (int, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// liveProcess is pid's command line, and whether it runs (a zombie does
// not: it exited and waits to be reaped).
func liveProcess(pid int) (string, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", false
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) == 0 || f[0] == "Z" {
		return "", false
	}
	cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " "), true
}

// TestLabFlagsAndTools runs `datalab lab` where it must stop before any
// server starts: a malformed DATALAB_LAB_PORT or DATALAB_LAB_NO_BROWSER,
// a bad --param, and missing tools (exit 127, naming them and .ci/setup lab).
func TestLabFlagsAndTools(t *testing.T) {
	bin := buildDatalab(t)
	root := testmirror.RepoRoot()
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want []string
	}{
		{"port env", []string{"DATALAB_LAB_PORT=eighty"}, nil, 1, []string{`DATALAB_LAB_PORT="eighty": want a port number`}},
		{"no-browser env", []string{"DATALAB_LAB_NO_BROWSER=maybe"}, nil, 1, []string{`DATALAB_LAB_NO_BROWSER="maybe": want true or false`}},
		{"port flag", nil, []string{"--port", "70000"}, 1, []string{"--port 70000: want 1-65535, or 0 for a free port"}},
		{"param", nil, []string{"--param", "sample"}, 1, []string{`--param "sample": want key=value`}},
		{"pipeline file", nil, []string{"--file", filepath.Join(empty, "datalab.yaml")}, 1, []string{"run it from the repository root, or pass --file"}},
		{"tools", []string{"PATH=" + empty}, []string{"--tools-dir", empty, "--port", "0"}, 127, []string{
			"jupyter not found", "gonb not found in " + empty, "goimports not found", "bash .ci/setup lab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runIn(t, root, append([]string{"DATALAB_LAB_PORT=", "DATALAB_LAB_NO_BROWSER="}, tc.env...), bin, append([]string{"lab", "--no-browser"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	// The help explains the command, with its environment variables and an
	// example.
	out, code := runIn(t, root, nil, bin, "lab", "--help")
	if code != 0 {
		t.Fatalf("lab --help exit %d:\n%s", code, out)
	}
	for _, w := range []string{"GoNB", "--param", "DATALAB_LAB_PORT", "DATALAB_LAB_NO_BROWSER", "bash .ci/setup lab", "Ctrl-C", "Examples:", "make lab"} {
		if !strings.Contains(out, w) {
			t.Errorf("lab --help lacks %q", w)
		}
	}
}

// TestLabPortTaken: a port another program listens on stops datalab lab
// at once with what to do, not after the start timeout.
func TestLabPortTaken(t *testing.T) {
	t.Parallel()
	tools := labTools(t)
	bin := buildDatalab(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	start := time.Now()
	out, code := runIn(t, testmirror.RepoRoot(), nil, bin, "lab", "--no-browser", "--port", port, "--tools-dir", tools)
	if code != 1 || !strings.Contains(out, "exited before it answered on http://127.0.0.1:"+port) || !strings.Contains(out, "try --port 0") {
		t.Errorf("exit %d, want 1 saying the server exited and to try --port 0:\n%s", code, out)
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("took %v to give up", took)
	}
}
