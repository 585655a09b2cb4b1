package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/notebook"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

var labFlags struct {
	file, dir, toolsDir string
	port                int
	noBrowser           bool
	params              []string
}

var labCmd = &cobra.Command{
	Use:   "lab",
	Short: "Open the notebooks in Jupyter's notebook server with the GoNB kernel",
	Long: `lab serves notebooks/ with Jupyter's classic notebook server (Debian's
jupyter-notebook 6) on 127.0.0.1 and the GoNB kernel of jupyter/kernels/gonb,
the one datalab notebooks run uses: cells import the pipeline packages of this
checkout (DATALAB_ROOT) with no set-up cell. Edit a cell, press Shift+Enter,
see the new figure.

It prints the server's URL with a fresh random access token, and the direct
URL of each notebook, and opens the list in the desktop's browser unless
--no-browser is given (without a desktop it only prints).

Parameters: each key of params.notebooks in datalab.yaml reaches the kernel
as DATALAB_NB_<KEY>, so the figures are those of the published pages;
--param k=v (repeatable) overrides one, as in datalab notebooks run.

Before starting it checks the tools: without jupyter-notebook, gonb or
goimports it exits 127 saying to run bash .ci/setup lab (make lab does);
without gopls (built into .bin/lab, which only the lab puts on the kernel's
PATH) it warns that completion and docs are off. It warns about each
pipeline output the notebooks read (the deps of the notebooks stage) that is
missing, naming the datalab run <stage> that makes it.

Ctrl-C or SIGTERM stops the server, which shuts its kernels down; kernels
still running after it are killed. The server's runtime files (connection
files, cookie secret) live in a temporary directory; only notebooks you
save are written.

Flags have environment equivalents: DATALAB_LAB_PORT (--port),
DATALAB_LAB_NO_BROWSER=1 (--no-browser), DATALAB_TOOLS_DIR (--tools-dir),
DATALAB_PIPELINE (--file).`,
	Example: `  make lab                                   # build, install the tools, then datalab lab
  datalab lab --no-browser --port 0          # any free port, print the URLs only
  datalab lab --param sample=5000            # the notebooks read the first 5000 rows`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		if err := labEnvErrors(); err != nil {
			return err
		}
		if labFlags.port < 0 || labFlags.port > 65535 {
			return fmt.Errorf("--port %d: want 1-65535, or 0 for a free port", labFlags.port)
		}
		given, err := parseParams(labFlags.params)
		if err != nil {
			return err
		}
		p, err := stagerun.LoadEnv(labFlags.file)
		if err != nil {
			return fmt.Errorf("%w (datalab lab reads the notebooks' parameters from it: run it from the repository root, or pass --file)", err)
		}
		params, err := notebook.StageParams(p, "notebooks")
		if err != nil {
			return err
		}
		for k, v := range given {
			params[k] = v
		}
		missing, err := notebook.MissingInputs(p, "notebooks")
		if err != nil {
			return err
		}
		for _, m := range missing {
			slog.Warn("notebook input missing: cells reading it fail until it is made", "path", m.Path, "make it with", m.Hint())
		}
		lab := notebook.Lab{
			Runner:      notebook.Runner{Root: p.Root, Params: params, ToolsDir: labFlags.toolsDir},
			Dir:         labFlags.dir,
			Port:        labFlags.port,
			OpenBrowser: !labFlags.noBrowser,
			Out:         cmd.OutOrStdout(),
			ServerLog:   cmd.ErrOrStderr(),
		}
		return lab.Serve(cmd.Context())
	},
}

// parseParams reads --param key=value flags.
func parseParams(flags []string) (map[string]string, error) {
	params := map[string]string{}
	for _, p := range flags {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want key=value", p)
		}
		params[k] = v
	}
	return params, nil
}

// labEnvErrors reports a DATALAB_LAB_* variable that is set but does not
// parse (the flag defaults fall back to the built-in ones then).
func labEnvErrors() error {
	if v := os.Getenv("DATALAB_LAB_PORT"); v != "" {
		if _, err := strconv.ParseUint(v, 10, 16); err != nil {
			return fmt.Errorf("DATALAB_LAB_PORT=%q: want a port number, or 0 for a free port", v)
		}
	}
	if v := os.Getenv("DATALAB_LAB_NO_BROWSER"); v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("DATALAB_LAB_NO_BROWSER=%q: want true or false (1 or 0)", v)
		}
	}
	return nil
}

func init() {
	port, err := strconv.Atoi(envOr("DATALAB_LAB_PORT", "8888"))
	if err != nil {
		port = 8888 // reported by labEnvErrors when lab runs
	}
	f := labCmd.Flags()
	f.IntVar(&labFlags.port, "port", port, "port on 127.0.0.1; 0 picks a free one (env DATALAB_LAB_PORT)")
	f.BoolVar(&labFlags.noBrowser, "no-browser", envBool("DATALAB_LAB_NO_BROWSER"), "only print the URLs, open no browser (env DATALAB_LAB_NO_BROWSER)")
	f.StringArrayVar(&labFlags.params, "param", nil, "notebook parameter key=value, seen as DATALAB_NB_<KEY>; overrides params.notebooks (repeatable)")
	f.StringVar(&labFlags.dir, "dir", "", "directory the server shows (default notebooks/ beside the pipeline file)")
	f.StringVar(&labFlags.toolsDir, "tools-dir", envOr("DATALAB_TOOLS_DIR", ""), "directory with gonb and goimports, and gopls in its lab/ (env DATALAB_TOOLS_DIR; default .bin)")
	f.StringVarP(&labFlags.file, "file", "f", envOr("DATALAB_PIPELINE", "datalab.yaml"), "pipeline file: its params.notebooks and notebooks stage; its directory is DATALAB_ROOT (env DATALAB_PIPELINE)")
	rootCmd.AddCommand(labCmd)
}
