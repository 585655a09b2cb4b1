package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

var dagFlags struct {
	file                 string
	dot, mermaid, svgOut bool
}

var dagCmd = &cobra.Command{
	Use:   "dag",
	Short: "Print the pipeline's stage graph (text, Graphviz dot, Mermaid or SVG)",
	Long: `dag reads the pipeline file (datalab.yaml) and prints its stage graph: which
stage reads the outputs of which. A stage's upstream stages are those whose
outs its deps equal, contain or lie inside; the graph is what datalab run
orders the stages by.

  (default)   one line per stage in execution order: number, name, layer
              (topological depth) and "← upstream stages"
  --dot       Graphviz dot, left to right, one rank per layer:
                datalab dag --dot | dot -Tsvg > dag.svg
  --mermaid   a Mermaid flowchart (paste it into a ` + "```mermaid" + ` block on GitHub)
  --svg       the SVG picture the report index shows (layered, no Graphviz needed)

Nothing runs; the pipeline file is only parsed and checked.`,
	Example: `  datalab dag
  datalab dag --mermaid
  datalab dag --file other/datalab.yaml --dot`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		n := 0
		for _, on := range []bool{dagFlags.dot, dagFlags.mermaid, dagFlags.svgOut} {
			if on {
				n++
			}
		}
		if n > 1 {
			return errors.New("give at most one of --dot, --mermaid and --svg")
		}
		p, err := stagerun.Load(dagFlags.file)
		if err != nil {
			return err
		}
		nodes := p.DAG()
		out := cmd.OutOrStdout()
		switch {
		case dagFlags.dot:
			_, err = fmt.Fprint(out, stagerun.DAGDot(nodes))
		case dagFlags.mermaid:
			_, err = fmt.Fprint(out, stagerun.DAGMermaid(nodes))
		case dagFlags.svgOut:
			_, err = fmt.Fprintln(out, report.DAGSVG(nodes))
		default:
			_, err = fmt.Fprint(out, stagerun.DAGText(nodes))
		}
		return err
	},
}

func init() {
	f := dagCmd.Flags()
	f.StringVarP(&dagFlags.file, "file", "f", envOr("DATALAB_PIPELINE", "datalab.yaml"), "pipeline file (env DATALAB_PIPELINE)")
	f.BoolVar(&dagFlags.dot, "dot", false, "print Graphviz dot")
	f.BoolVar(&dagFlags.mermaid, "mermaid", false, "print a Mermaid flowchart")
	f.BoolVar(&dagFlags.svgOut, "svg", false, "print the SVG picture")
	rootCmd.AddCommand(dagCmd)
}
