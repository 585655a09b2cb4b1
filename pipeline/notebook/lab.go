package notebook

// The interactive side of the notebooks: `datalab lab` serves notebooks/
// with Debian's classic Jupyter notebook server (notebook 6) and the same
// GoNB kernel the headless runner uses, in the same environment, so a cell
// edited in the browser sees what `datalab notebooks run` would.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Lab is an interactive notebook server over a notebook directory: Jupyter's
// classic notebook server on 127.0.0.1 with the GoNB kernel. The zero value
// is not useful: set Runner.Root.
type Lab struct {
	// Runner supplies Root, Params, Jupyter and ToolsDir. The server runs in
	// the runner's environment (ToolsDir first on PATH, JUPYTER_PATH with the
	// repository's kernelspec, GOTOOLCHAIN=local, DATALAB_ROOT and
	// DATALAB_NB_<KEY> per parameter), which its kernels inherit.
	Runner Runner
	// Dir is the directory the server shows; default <Root>/notebooks.
	Dir string
	// Port is the server's port on 127.0.0.1; 0 picks a free one.
	Port int
	// OpenBrowser opens the notebook list in the desktop's browser once the
	// server answers. Without a desktop (no DISPLAY, no xdg-open) it only
	// says so: the printed URL is the way in.
	OpenBrowser bool
	// Out receives the URLs (default os.Stdout); ServerLog the server's and
	// the kernels' own log lines (default os.Stderr).
	Out, ServerLog io.Writer
	// StartTimeout bounds the wait for the server to answer; default 2m.
	StartTimeout time.Duration
	// StopTimeout is how long the server may take to shut its kernels down
	// after SIGTERM before it and they are killed; default 30s.
	StopTimeout time.Duration
}

// LabToolsError is a *MissingToolsError for `datalab lab`, whose tools
// (the notebook server and gopls besides the kernel) `.ci/setup lab`
// installs.
type LabToolsError struct {
	MissingToolsError
}

func (e *LabToolsError) Error() string {
	return "datalab lab cannot start: " + strings.Join(e.Missing, "; ") +
		" (install them with `bash .ci/setup lab`, which `make lab` runs first)"
}

// Unwrap makes errors.As find the *MissingToolsError.
func (e *LabToolsError) Unwrap() error { return &e.MissingToolsError }

// labHiddenEnv are variables of Runner.env that the lab leaves out: both
// exist for the headless run only. DATALAB_GONB_RAW_ERROR makes GoNB print
// plain-text errors for nbconvert's reader (the browser shows GoNB's HTML
// errors with the line marked); DATALAB_NOTEBOOK_MODE=headless makes
// nbview.Interactive false, and the lab has a browser to run widgets in.
var labHiddenEnv = []string{"DATALAB_GONB_RAW_ERROR", ModeEnv}

// LabToolsSubdir is the directory under ToolsDir with the lab-only tools
// (gopls, which .ci/setup builds there): only the lab puts it on the
// kernel's PATH, since GoNB starts gopls whenever it finds one and a
// headless run would load the whole module into it for nothing.
const LabToolsSubdir = "lab"

// labToolsDir is <ToolsDir>/lab.
func (l Lab) labToolsDir(root string) string {
	return filepath.Join(l.Runner.toolsDir(root), LabToolsSubdir)
}

// env is the server's environment: the runner's without labHiddenEnv, with
// the lab's tools first on PATH, the token (an environment variable, so
// `ps` does not show it) and the runtime directory, where the server keeps
// its cookie secret, its server file and the kernels' connection files, out
// of the repository and the user's ~/.local/share/jupyter.
func (l Lab) env(root, token, runtimeDir string) []string {
	drop := append([]string{"JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE", "JUPYTER_RUNTIME_DIR"}, labHiddenEnv...)
	var env []string
	for _, kv := range l.Runner.env(root) {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case slices.Contains(drop, k):
		case k == "PATH":
			env = append(env, "PATH="+l.labToolsDir(root)+string(os.PathListSeparator)+v)
		default:
			env = append(env, kv)
		}
	}
	return append(env, "JUPYTER_TOKEN="+token, "JUPYTER_RUNTIME_DIR="+runtimeDir)
}

// CheckTools returns a *LabToolsError naming every tool the lab needs and
// cannot find: what Runner.CheckTools checks (jupyter, the GoNB kernel,
// goimports, the kernelspec) and jupyter-notebook. It logs a warning when
// gopls is missing: cells run without it, but GoNB's completion (Tab) and
// docs (Shift+Tab) are off.
func (l Lab) CheckTools() error {
	root, err := filepath.Abs(l.Runner.Root)
	if err != nil {
		return fmt.Errorf("notebook root %s: %w", l.Runner.Root, err)
	}
	var missing []string
	var mt *MissingToolsError
	if err := l.Runner.CheckTools(); errors.As(err, &mt) {
		missing = mt.Missing
	} else if err != nil {
		return err
	}
	path := envValue(l.env(root, "", ""), "PATH")
	if jupyter, ok := lookPath(l.Runner.jupyter(), path); ok {
		if _, ok := lookPath("jupyter-notebook", filepath.Dir(jupyter)+string(os.PathListSeparator)+path); !ok {
			missing = append(missing, "jupyter-notebook not found (Debian package jupyter-notebook)")
		}
	}
	if len(missing) > 0 {
		return &LabToolsError{MissingToolsError{Missing: missing}}
	}
	if _, ok := lookPath("gopls", path); !ok {
		slog.Warn("gopls not found: cells run, but completion (Tab) and docs (Shift+Tab) are off; bash .ci/setup lab builds it into .bin/lab",
			"looked in", l.labToolsDir(root)+", "+l.Runner.toolsDir(root)+" and PATH")
	}
	return nil
}

// envValue is the value of variable key in env, "" when absent.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if val, ok := strings.CutPrefix(kv, key+"="); ok {
			v = val
		}
	}
	return v
}

// Serve starts the notebook server, waits until it answers, prints its URL
// and each notebook's, and runs until ctx is cancelled (Ctrl-C, SIGTERM);
// then it stops the server, which shuts its kernels down, kills whatever
// did not stop in time, and returns nil. A server that exits on its own is
// an error.
func (l Lab) Serve(ctx context.Context) error {
	root, err := filepath.Abs(l.Runner.Root)
	if err != nil {
		return fmt.Errorf("notebook root %s: %w", l.Runner.Root, err)
	}
	if err := l.CheckTools(); err != nil {
		return err
	}
	dir := l.Dir
	if dir == "" {
		dir = filepath.Join(root, "notebooks")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("notebook directory %s not found (run from the repository root, or pass --dir)", dir)
	}
	notebooks, err := filepath.Glob(filepath.Join(dir, "*.ipynb"))
	if err != nil {
		return err
	}
	sort.Strings(notebooks)
	token, err := newToken()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "datalab-lab-")
	if err != nil {
		return fmt.Errorf("datalab lab: %w", err)
	}
	defer os.RemoveAll(tmp)
	runtimeDir := filepath.Join(tmp, "runtime")
	port := l.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return err
		}
	}

	args := []string{"notebook", "--no-browser", "--ip=127.0.0.1", "--port=" + strconv.Itoa(port),
		"--port-retries=0", "--notebook-dir=" + dir}
	if os.Geteuid() == 0 {
		args = append(args, "--allow-root") // CI and containers run as root
	}
	cmd := exec.Command(l.Runner.jupyter(), args...)
	cmd.Dir = root
	cmd.Env = l.env(root, token, runtimeDir)
	cmd.Stdout, cmd.Stderr = orStderr(l.ServerLog), orStderr(l.ServerLog)
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start jupyter notebook: %w (bash .ci/setup lab installs it)", err)
	}
	// done closes when the server has exited, with its status in waitErr.
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	slog.Info("jupyter notebook starting", "pid", cmd.Process.Pid, "port", port, "dir", dir)

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitReady(ctx, base, token, done, durationOr(l.StartTimeout, 2*time.Minute)); err != nil {
		l.stop(cmd, done, runtimeDir)
		if ctx.Err() != nil {
			return nil // stopped while starting: as after a clean start
		}
		return err
	}
	tree := base + "/tree?token=" + token
	out := l.Out
	if out == nil {
		out = os.Stdout
	}
	fmt.Fprintf(out, "Jupyter (GoNB kernel) serves %s at\n  %s\n", dir, tree)
	if len(notebooks) > 0 {
		fmt.Fprintln(out, "Notebooks:")
	}
	for _, nb := range notebooks {
		fmt.Fprintf(out, "  %s/notebooks/%s?token=%s\n", base, url.PathEscape(filepath.Base(nb)), token)
	}
	fmt.Fprintln(out, "Ctrl-C stops the server and its kernels.")
	if l.OpenBrowser {
		openBrowser(tmp, tree)
	}

	select {
	case <-ctx.Done():
		slog.Info("stopping jupyter notebook and its kernels")
		l.stop(cmd, done, runtimeDir)
		return nil
	case <-done:
		killKernels(kernelSessions(runtimeDir))
		return fmt.Errorf("jupyter notebook exited: %v (its log is above)", waitErr)
	}
}

// stop sends the server SIGTERM, on which notebook 6 shuts every kernel
// down and exits (SIGINT would make it ask for confirmation on a terminal),
// kills its process group if it takes longer than StopTimeout, then kills
// any kernel still running: Jupyter starts kernels in sessions of their own,
// so they outlive a killed server.
func (l Lab) stop(cmd *exec.Cmd, done <-chan struct{}, runtimeDir string) {
	// Found before the server stops: a kernel that exits leaves its gopls
	// behind in its session, where nothing else names the server.
	sessions := kernelSessions(runtimeDir)
	terminate(cmd)
	select {
	case <-done:
	case <-time.After(durationOr(l.StopTimeout, 30*time.Second)):
		slog.Warn("jupyter notebook did not stop in time; killing it", "pid", cmd.Process.Pid)
		killGroup(cmd)
		<-done
	}
	killKernels(sessions)
}

// waitReady polls GET /api/status with the token until the server answers
// 200, the server exits, ctx is done or timeout passes.
func waitReady(ctx context.Context, base, token string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/status", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "token "+token)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				return nil
			case http.StatusForbidden, http.StatusUnauthorized:
				return fmt.Errorf("jupyter notebook at %s refused the lab's token (%s): a Jupyter config file sets NotebookApp.token or a password; remove it from `jupyter --config-dir`", base, resp.Status)
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("jupyter notebook exited before it answered on %s (its log is above; is the port taken? try --port 0)", base)
		case <-ctx.Done():
			return fmt.Errorf("jupyter notebook did not answer on %s within %v (its log is above)", base, timeout)
		case <-tick.C:
		}
	}
}

// newToken is the server's access token: 24 random bytes, hex.
func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("notebook server token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// freePort is a port on 127.0.0.1 nothing listens on right now. Notebook 6
// cannot listen on port 0 itself (it would print :0 as its address).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// openBrowser opens target in the desktop's browser through a redirect page
// in dir (as Jupyter does), so the token is not on a command line. Without a
// desktop it logs and returns: the URL is printed anyway.
func openBrowser(dir, target string) {
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	} else if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		slog.Info("no desktop (DISPLAY unset): open the URL above in a browser")
		return
	}
	exe, err := exec.LookPath(opener)
	if err != nil {
		slog.Info("no "+opener+" to open a browser: open the URL above", "install", "xdg-utils")
		return
	}
	page := filepath.Join(dir, "open.html")
	redirect := `<!DOCTYPE html><meta http-equiv="refresh" content="0;url=` + html.EscapeString(target) + `"><title>datalab lab</title>`
	if err := os.WriteFile(page, []byte(redirect), 0o600); err != nil {
		slog.Warn("could not open a browser: open the URL above", "err", err)
		return
	}
	c := exec.Command(exe, page)
	if err := c.Start(); err != nil {
		slog.Warn("could not open a browser: open the URL above", "err", err)
		return
	}
	go c.Wait() //nolint:errcheck // the opener's exit status says nothing about the browser
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orStderr(w io.Writer) io.Writer {
	if w == nil {
		return os.Stderr
	}
	return w
}

// StageParams are the notebook parameters of the pipeline, params.<key> of
// datalab.yaml (key "notebooks"), as the DATALAB_NB_<KEY> values the
// notebooks stage passes: nested keys join with "_", numbers print as YAML
// writes them. The lab starts from them so its figures match the published
// pages.
func StageParams(p *stagerun.Pipeline, key string) (map[string]string, error) {
	v, ok := p.Param(key)
	if !ok {
		return nil, fmt.Errorf("%s has no params.%s", p.Path, key)
	}
	tree, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s params.%s is a %T, want a mapping of notebook parameters", p.Path, key, v)
	}
	out := map[string]string{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+"_", sub)
				continue
			}
			out[prefix+k] = paramText(v)
		}
	}
	walk("", tree)
	return out, nil
}

// paramText is a scalar parameter as ${params.…} substitutes it into a
// stage command: strings as written, integral floats without a fraction.
func paramText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		if math.Abs(v) < 1e15 && v == math.Trunc(v) {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// MissingInput is a dependency of the notebooks stage that is not on disk:
// a notebook cell reading it fails until the stages in Stages ran.
type MissingInput struct {
	Path   string   // as datalab.yaml writes it, relative to the pipeline root
	Stages []string // the stages whose outs hold it; none for a source file
}

// Hint says how to make the input: `datalab run <stage>`, or for a source
// file (a data pointer, a notebook) that it belongs to the checkout.
func (m MissingInput) Hint() string {
	if len(m.Stages) == 0 {
		return "not made by any stage: restore it from git (git checkout -- " + m.Path + ")"
	}
	return "datalab run " + strings.Join(m.Stages, " ")
}

// MissingInputs lists the deps of stage (the notebooks stage) that do not
// exist under the pipeline root, each with the stages producing it, in the
// order datalab.yaml lists them.
func MissingInputs(p *stagerun.Pipeline, stage string) ([]MissingInput, error) {
	s := p.Stage(stage)
	if s == nil {
		return nil, fmt.Errorf("%s has no stage %q (known: %s)", p.Path, stage, strings.Join(p.Names(), ", "))
	}
	var missing []MissingInput
	for _, dep := range s.Deps {
		if _, err := os.Stat(filepath.Join(p.Root, dep)); err == nil {
			continue
		}
		m := MissingInput{Path: dep}
		if stages, err := p.Producers([]string{dep}); err == nil {
			m.Stages = stages
		}
		missing = append(missing, m)
	}
	return missing, nil
}
