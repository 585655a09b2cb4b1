package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// datalab dag prints the graph of the repository's datalab.yaml in each
// format, reads another file with --file, and refuses two formats at once
// or a missing file with a message saying what to do.
func TestDagCommand(t *testing.T) {
	bin := buildDatalab(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"stages,", " report-matches    layer 4  ← ingest-matches, ingest-martj42, evaluate-matches"}},
		{[]string{"--dot"}, []string{"digraph pipeline {", `"evaluate-matches" -> "report-matches";`}},
		{[]string{"--mermaid"}, []string{"flowchart LR", `["report-flights"]`}},
		{[]string{"--svg"}, []string{`<svg xmlns="http://www.w3.org/2000/svg" class="dag"`, "<title>evaluate-flights → report-flights</title>"}},
	} {
		out, code := datalabCmd(t, bin, root, nil, append([]string{"dag"}, c.args...)...)
		if code != 0 {
			t.Fatalf("datalab dag %v: exit %d\n%s", c.args, code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("datalab dag %v lacks %q:\n%s", c.args, w, out)
			}
		}
	}
	dir := t.TempDir()
	other := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(other, []byte("stages:\n  a:\n    cmd: echo > x\n    outs: [x]\n  b:\n    cmd: cat x\n    deps: [x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := datalabCmd(t, bin, dir, nil, "dag", "--mermaid", "--file", other)
	if code != 0 || out != "flowchart LR\n  s1[\"a\"]\n  s2[\"b\"]\n  s1 --> s2\n" {
		t.Errorf("dag --file other.yaml (exit %d):\n%s", code, out)
	}
	if out, code := datalabCmd(t, bin, dir, nil, "dag", "--dot", "--svg"); code == 0 || !strings.Contains(out, "at most one of") {
		t.Errorf("two formats accepted (exit %d):\n%s", code, out)
	}
	if out, code := datalabCmd(t, bin, dir, nil, "dag"); code == 0 || !strings.Contains(out, "pass --file") {
		t.Errorf("missing datalab.yaml (exit %d):\n%s", code, out)
	}
}
