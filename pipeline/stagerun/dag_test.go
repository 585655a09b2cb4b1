package stagerun

import (
	"slices"
	"strings"
	"testing"
)

// smallDAG is a diamond with a long edge: raw → features → train →
// evaluate, raw → train, and a report on evaluate.
func smallDAG(t *testing.T) []DAGNode {
	t.Helper()
	p, err := Parse([]byte(`
stages:
  report:
    cmd: cat m/metrics.txt
    deps: [m/metrics.txt]
  evaluate:
    cmd: eval > m/metrics.txt
    deps: [m/model, raw/x]
    outs: [m/metrics.txt]
  train:
    cmd: train > m/model
    deps: [f, raw/x]
    outs: [m/model]
  features:
    cmd: build > f/x
    deps: [raw/x]
    outs: [f]
  ingest:
    cmd: ingest > raw/x
    outs: [raw/x]
`), "/repo")
	if err != nil {
		t.Fatal(err)
	}
	return p.DAG()
}

func TestDAGLayers(t *testing.T) {
	nodes := smallDAG(t)
	want := []DAGNode{
		{Name: "ingest", Layer: 0},
		{Name: "features", Upstream: []string{"ingest"}, Layer: 1},
		{Name: "train", Upstream: []string{"ingest", "features"}, Layer: 2},
		{Name: "evaluate", Upstream: []string{"ingest", "train"}, Layer: 3},
		{Name: "report", Upstream: []string{"evaluate"}, Layer: 4},
	}
	if len(nodes) != len(want) {
		t.Fatalf("DAG = %+v", nodes)
	}
	for i := range want {
		if nodes[i].Name != want[i].Name || nodes[i].Layer != want[i].Layer || !slices.Equal(nodes[i].Upstream, want[i].Upstream) {
			t.Errorf("node %d = %+v, want %+v", i, nodes[i], want[i])
		}
	}
}

func TestDAGText(t *testing.T) {
	want := `5 stages, 6 edges, 5 layers (execution order; ← the stages whose outputs a stage reads)
1  ingest    layer 0
2  features  layer 1  ← ingest
3  train     layer 2  ← ingest, features
4  evaluate  layer 3  ← ingest, train
5  report    layer 4  ← evaluate
`
	if got := DAGText(smallDAG(t)); got != want {
		t.Errorf("DAGText:\n%s\nwant:\n%s", got, want)
	}
}

func TestDAGDot(t *testing.T) {
	want := `digraph pipeline {
  rankdir=LR;
  node [shape=box, style=rounded, fontname="Helvetica"];
  "ingest";
  "features";
  "train";
  "evaluate";
  "report";
  "ingest" -> "features";
  "ingest" -> "train";
  "features" -> "train";
  "ingest" -> "evaluate";
  "train" -> "evaluate";
  "evaluate" -> "report";
}
`
	if got := DAGDot(smallDAG(t)); got != want {
		t.Errorf("DAGDot:\n%s\nwant:\n%s", got, want)
	}
}

func TestDAGMermaid(t *testing.T) {
	want := `flowchart LR
  s1["ingest"]
  s2["features"]
  s3["train"]
  s4["evaluate"]
  s5["report"]
  s1 --> s2
  s1 --> s3
  s2 --> s3
  s1 --> s4
  s3 --> s4
  s4 --> s5
`
	if got := DAGMermaid(smallDAG(t)); got != want {
		t.Errorf("DAGMermaid:\n%s\nwant:\n%s", got, want)
	}
}

// The repository's datalab.yaml: every stage in the graph, the edges the
// data flow implies (a sample of them, and none that it does not), and the
// report stages reading the ingest stages' quarantine files.
func TestDAGRealPipeline(t *testing.T) {
	p, err := Load("../../datalab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	nodes := p.DAG()
	if len(nodes) != len(p.Stages) {
		t.Fatalf("DAG has %d nodes for %d stages", len(nodes), len(p.Stages))
	}
	edges := map[string]bool{}
	layer := map[string]int{}
	for _, n := range nodes {
		layer[n.Name] = n.Layer
		for _, u := range n.Upstream {
			edges[u+" → "+n.Name] = true
		}
	}
	for _, e := range []string{
		"ingest-matches → features-matches",
		"ingest-matches → train-matches",
		"features-matches → train-matches",
		"train-matches → evaluate-matches",
		"ingest-martj42 → evaluate-matches",
		"evaluate-matches → report-matches",
		"ingest-matches → report-matches",
		"ingest-martj42 → report-matches",
		"ingest-bts2008 → train-flights",
		"ingest-flights3m → train-flights",
		"train-flights → evaluate-flights",
		"evaluate-flights → report-flights",
		"ingest-bts2008 → report-flights",
		"ingest-flights3m → report-flights",
		"train-matches → notebooks",
		"evaluate-flights → notebooks",
	} {
		if !edges[e] {
			t.Errorf("edge %s missing", e)
		}
	}
	for _, e := range []string{"ingest-bts2017 → train-flights", "report-matches → notebooks", "train-flights → report-matches"} {
		if edges[e] {
			t.Errorf("edge %s should not exist", e)
		}
	}
	for name, want := range map[string]int{"ingest-matches": 0, "ingest-bts2017": 0, "features-matches": 1,
		"train-matches": 2, "evaluate-matches": 3, "report-matches": 4, "train-flights": 1, "report-flights": 3} {
		if layer[name] != want {
			t.Errorf("%s in layer %d, want %d", name, layer[name], want)
		}
	}
	if text := DAGText(nodes); !strings.Contains(text, "report-matches") || strings.Count(text, "\n") != len(nodes)+1 {
		t.Errorf("DAGText of datalab.yaml:\n%s", text)
	}
}
