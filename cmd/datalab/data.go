package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/datasets"
)

var dataFlags struct {
	dataDir string
	store   string
}

var dataCmd = &cobra.Command{
	Use:   "data",
	Short: "Pull, check and declare the data sets (git-LFS pointers in data/)",
	Long: `The data sets are declared in data/: data/catalog.yaml says what each set is
and where it comes from (license, format, schema id, origin URL per file), and
each file data/<set>/<path> has a git-LFS pointer
data/pointers/<set>/<path>.pointer holding its sha256 and size. Only those are in git; the files themselves are
materialised by 'datalab data pull' into a local object store
(.datalab/lfs/objects/ab/cd/<oid>, like .git/lfs/objects) and the working path.
See data/README.md.`,
}

var pullFlags struct {
	mirror   string
	noOrigin bool
	force    bool
	timeout  time.Duration
}

var dataPullCmd = &cobra.Command{
	Use:   "pull [set…]",
	Short: "Materialise data sets from the object store, a mirror or their origin URLs",
	Long: `Materialise the files of the named sets (all sets without arguments) at
data/<set>/<path> and in the object store.

Each file is looked for, in order, in the object store, in the mirror directory
(--mirror or DATALAB_MIRROR, at the file's mirror path) and at its origin URL.
Whatever the source, its bytes must have the sha256 and size of the file's
pointer; a source with other bytes is reported (file, declared and actual
oid/size, what to do) and the next source is tried. Files are written
atomically, so an interrupted pull leaves no half-written file.

A working file that exists but differs from its pointer may be your work: pull
keeps it and reports it, unless --force. Pull exits non-zero, listing the
files, when some file could not be materialised.`,
	Example: `  datalab data pull                                # every set
  datalab data pull matches worldcup2022
  DATALAB_MIRROR=../shared/data datalab data pull --no-origin   # offline`,
	RunE: runDataPull,
}

var statusFlags struct {
	check bool
	json  bool
}

var dataStatusCmd = &cobra.Command{
	Use:   "status [set…]",
	Short: "Show each data set as present, missing or modified",
	Long: `Check every working file against its pointer (size, then sha256) and print
one row per set: files, declared bytes and state — present, or the counts of
missing and modified files. Modified files are listed by path.

Exits 0 whatever the state, unless --check: then anything missing or modified
exits 1 (for CI and scripts).`,
	Example: `  datalab data status
  datalab data status --check matches || datalab data pull matches
  datalab data status --json | jq '.[] | select(.state != "present")'`,
	RunE: runDataStatus,
}

var addFlags struct {
	set, url, mirrorPath, license, format, schema, description, origin string
}

var dataAddCmd = &cobra.Command{
	Use:   "add PATH",
	Short: "Declare a new or changed data file: store it, write its pointer, update the catalog",
	Long: `Hash the file at PATH, put it in the object store, write its git-LFS pointer
and add or update its entry in data/catalog.yaml (kept sorted; written
atomically). Commit the .pointer file and catalog.yaml afterwards.

PATH inside the data directory (data/<set>/<path>) names its set and path.
PATH elsewhere needs --set and is copied to data/<set>/<file name>.
A set that does not exist yet is created: give --format (guessed from the
extension for .csv, .jsonl, .parquet), --schema, --license, --description and
--origin. For an existing set --license, --description and --origin update the
set, and --format / --schema give this one file its own format or schema.`,
	Example: `  datalab data add data/matches/international_matches.csv
  datalab data add ~/Downloads/results_2027.csv --set martj42 --url https://raw.githubusercontent.com/martj42/international_results/master/results.csv
  datalab data add data/odds/odds.csv --format csv --schema odds-v1 --license CC0-1.0 --origin https://example.org`,
	Args: cobra.ExactArgs(1),
	RunE: runDataAdd,
}

func init() {
	pf := dataCmd.PersistentFlags()
	pf.StringVar(&dataFlags.dataDir, "data-dir", envOr("DATALAB_DATA_DIR", "data"),
		"directory holding catalog.yaml, the pointers and the working files (env DATALAB_DATA_DIR)")
	pf.StringVar(&dataFlags.store, "store", envOr("DATALAB_STORE", ""),
		"object store directory (default .datalab/lfs/objects beside the data directory; env DATALAB_STORE)")

	f := dataPullCmd.Flags()
	f.StringVar(&pullFlags.mirror, "mirror", envOr("DATALAB_MIRROR", ""),
		"mirror root to read files from before their origin URLs (env DATALAB_MIRROR)")
	f.BoolVar(&pullFlags.noOrigin, "no-origin", false, "never download from origin URLs (offline)")
	f.BoolVar(&pullFlags.force, "force", false, "replace working files that differ from their pointers (discards local changes)")
	f.DurationVar(&pullFlags.timeout, "timeout", datasets.DefaultDownloadTimeout, "limit for each origin download")

	s := dataStatusCmd.Flags()
	s.BoolVar(&statusFlags.check, "check", false, "exit 1 when any file is missing or modified")
	s.BoolVar(&statusFlags.json, "json", false, "print the status (per set and per file) as JSON")

	a := dataAddCmd.Flags()
	a.StringVar(&addFlags.set, "set", "", "set the file belongs to (default: from PATH under the data directory)")
	a.StringVar(&addFlags.url, "url", "", "origin download URL of exactly these bytes")
	a.StringVar(&addFlags.mirrorPath, "mirror-path", "", "the file's path relative to a mirror root")
	a.StringVar(&addFlags.license, "license", "", "license of the set")
	a.StringVar(&addFlags.format, "format", "", "format: "+strings.Join(datasets.Formats, ", "))
	a.StringVar(&addFlags.schema, "schema", "", "schema id ingest uses for the file(s), e.g. martj42-results-v1")
	a.StringVar(&addFlags.description, "description", "", "what the set is")
	a.StringVar(&addFlags.origin, "origin", "", "homepage of the set")

	dataCmd.AddCommand(dataPullCmd, dataStatusCmd, dataAddCmd)
	rootCmd.AddCommand(dataCmd)
}

func runDataPull(cmd *cobra.Command, args []string) error {
	cat, err := datasets.Open(dataFlags.dataDir)
	if err != nil {
		return err
	}
	res, err := cat.Pull(cmd.Context(), args, datasets.PullOptions{
		Store:    dataFlags.store,
		Mirror:   pullFlags.mirror,
		NoOrigin: pullFlags.noOrigin,
		Force:    pullFlags.force,
		Timeout:  pullFlags.timeout,
	})
	var bytes int64
	for _, f := range res.Files {
		bytes += f.Bytes
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d files present (%d bytes): %d already there, %d from the store, %d from the mirror, %d from origin URLs, %d empty\n",
		len(res.Files), bytes, res.Count(datasets.FromWorking), res.Count(datasets.FromStore),
		res.Count(datasets.FromMirror), res.Count(datasets.FromURL), res.Count(datasets.FromEmpty))
	return err
}

func runDataStatus(cmd *cobra.Command, args []string) error {
	cat, err := datasets.Open(dataFlags.dataDir)
	if err != nil {
		return err
	}
	sets, err := cat.Status(cmd.Context(), args, datasets.StatusOptions{Store: dataFlags.store})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if statusFlags.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sets); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SET\tFILES\tBYTES\tSTATE")
		for _, s := range sets {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", s.Name, s.Files, s.Bytes, s.Summary())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, s := range sets {
			for _, f := range s.Details {
				if f.State == datasets.StateModified {
					fmt.Fprintf(out, "modified: %s\n", f.WorkingPath)
				}
			}
		}
	}
	if !statusFlags.check {
		return nil
	}
	var bad []string
	for _, s := range sets {
		if s.State != datasets.StatePresent {
			bad = append(bad, s.Name+" ("+s.Summary()+")")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("data sets not present: %s: run `datalab data pull` (add --force to replace modified files, or `datalab data add` them)", strings.Join(bad, ", "))
	}
	return nil
}

func runDataAdd(cmd *cobra.Command, args []string) error {
	cat, err := datasets.OpenOrNew(dataFlags.dataDir)
	if err != nil {
		return err
	}
	s, f, err := cat.Declare(args[0], datasets.Declaration{
		Set: addFlags.set, Store: dataFlags.store, URL: addFlags.url, Mirror: addFlags.mirrorPath,
		License: addFlags.license, Description: addFlags.description, Origin: addFlags.origin,
		Format: addFlags.format, Schema: addFlags.schema,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "declared %s: %s\nwrote %s and %s: commit both\n",
		s.WorkingPath(f), f.Pointer, s.PointerPath(f), filepath.Join(cat.Dir(), datasets.CatalogFile))
	return nil
}
