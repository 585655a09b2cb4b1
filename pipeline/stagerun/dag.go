package stagerun

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DAGNode is one stage of the pipeline's graph, as `datalab dag` and the
// report index's picture draw it.
type DAGNode struct {
	Name string
	// Upstream names the stages producing this stage's dependencies, in
	// execution order.
	Upstream []string
	// Layer is the stage's topological depth: 0 for a stage with no
	// upstream stage, else one more than its deepest upstream stage.
	Layer int
}

// DAG returns the stage graph in execution order (the order of Stages),
// with each stage's upstream stages and layer. The result depends only on
// the pipeline file, so drawings of it are deterministic.
func (p *Pipeline) DAG() []DAGNode {
	pos := map[string]int{}
	for i, s := range p.Stages {
		pos[s.Name] = i
	}
	nodes := make([]DAGNode, len(p.Stages))
	for i, s := range p.Stages {
		up := slices.Clone(s.Upstream)
		slices.SortFunc(up, func(a, b string) int { return pos[a] - pos[b] })
		layer := 0
		for _, u := range up {
			layer = max(layer, nodes[pos[u]].Layer+1) // upstream stages come first
		}
		nodes[i] = DAGNode{Name: s.Name, Upstream: up, Layer: layer}
	}
	return nodes
}

// EdgeCount is the number of upstream → stage edges of a graph.
func EdgeCount(nodes []DAGNode) int {
	n := 0
	for _, s := range nodes {
		n += len(s.Upstream)
	}
	return n
}

// DAGText renders the graph for a terminal: one numbered line per stage in
// execution order, with its layer and the stages it reads from.
//
//	1  ingest-matches     layer 0
//	6  features-matches   layer 1  ← ingest-matches
func DAGText(nodes []DAGNode) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d stages, %d edges, %d layers (execution order; ← the stages whose outputs a stage reads)\n",
		len(nodes), EdgeCount(nodes), layers(nodes))
	width := 0
	for _, s := range nodes {
		width = max(width, len(s.Name))
	}
	num := len(strconv.Itoa(len(nodes)))
	for i, s := range nodes {
		line := fmt.Sprintf("%*d  %-*s  layer %d", num, i+1, width, s.Name, s.Layer)
		if len(s.Upstream) > 0 {
			line += "  ← " + strings.Join(s.Upstream, ", ")
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func layers(nodes []DAGNode) int {
	n := 0
	for _, s := range nodes {
		n = max(n, s.Layer+1)
	}
	return n
}

// DAGDot renders the graph in Graphviz dot syntax, left to right, stages of
// one layer on one rank (`datalab dag --dot | dot -Tsvg > dag.svg`).
func DAGDot(nodes []DAGNode) string {
	var b strings.Builder
	b.WriteString("digraph pipeline {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n")
	for _, s := range nodes {
		fmt.Fprintf(&b, "  %s;\n", strconv.Quote(s.Name))
	}
	for l := range layers(nodes) {
		var same []string
		for _, s := range nodes {
			if s.Layer == l {
				same = append(same, strconv.Quote(s.Name))
			}
		}
		if len(same) > 1 {
			fmt.Fprintf(&b, "  { rank=same; %s; }\n", strings.Join(same, "; "))
		}
	}
	for _, s := range nodes {
		for _, u := range s.Upstream {
			fmt.Fprintf(&b, "  %s -> %s;\n", strconv.Quote(u), strconv.Quote(s.Name))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// DAGMermaid renders the graph as a Mermaid flowchart (GitHub renders it in
// a ```mermaid block). Node ids are s1, s2, … in execution order; the labels
// are the stage names.
func DAGMermaid(nodes []DAGNode) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	id := map[string]string{}
	for i, s := range nodes {
		id[s.Name] = "s" + strconv.Itoa(i+1)
		fmt.Fprintf(&b, "  %s[\"%s\"]\n", id[s.Name], strings.ReplaceAll(s.Name, `"`, "#quot;"))
	}
	for _, s := range nodes {
		for _, u := range s.Upstream {
			fmt.Fprintf(&b, "  %s --> %s\n", id[u], id[s.Name])
		}
	}
	return b.String()
}
