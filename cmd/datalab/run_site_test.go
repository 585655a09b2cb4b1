package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRunPublishesToReportSite: `datalab run` publishes the record of a run
// that wrote a report next to it in reports/runs/<id>/, the index lists the
// runs and links their diff page, a run that wrote no report is not
// published, and `datalab report diff` writes a page for any two runs by
// reference and refuses an unknown one naming it.
func TestRunPublishesToReportSite(t *testing.T) {
	bin := buildDatalab(t)
	dir := t.TempDir()
	const script = `set -e
d=reports/runs/$DATALAB_RUN_ID
mkdir -p "$d"
printf '<!doctype html><title>Fit, depth %s</title>' "$1" > "$d/fit.html"
printf '{"kind":"fit","title":"Fit","html":"fit.html","run_id":"%s","metrics":{"accuracy":0.%s}}' "$DATALAB_RUN_ID" "$1" > "$d/fit.report.json"
echo "$1" > fit.txt
`
	const pipeline = `params:
  model:
    depth: 8
stages:
  fit:
    cmd: sh make-report.sh ${params.model.depth}
    deps: [make-report.sh]
    outs: [fit.txt]
`
	for name, body := range map[string]string{"make-report.sh": script, "datalab.yaml": pipeline} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"DATALAB_RETRIES=0", "DATALAB_SET=", "DATALAB_REMOTE=", "DATALAB_CACHE_DIR=", "DATALAB_RUNS_DIR="}
	runID := regexp.MustCompile(`run (\S+): ok`)
	var ids []string
	for _, set := range []string{"model.depth=8", "model.depth=12", "model.depth=12"} {
		out, code := datalabCmd(t, bin, dir, env, "run", "--set", set)
		m := runID.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("run --set %s: exit %d\n%s", set, code, out)
		}
		ids = append(ids, m[1])
	}
	for i, id := range ids {
		_, err := os.Stat(filepath.Join(dir, "reports", "runs", id, "run.json"))
		if published := err == nil; published != (i < 2) {
			t.Errorf("run %d (%s): record published = %v (%v); want only the two runs that wrote a report", i, id, published, err)
		}
	}
	index, err := os.ReadFile(filepath.Join(dir, "reports", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	pair := ids[0] + ".." + ids[1] + ".html"
	for _, want := range []string{`id="run-` + ids[0] + `"`, `id="run-` + ids[1] + `"`, `href="diffs/` + pair + `#kind-fit"`, "model.depth=12"} {
		if !strings.Contains(string(index), want) {
			t.Errorf("index lacks %s", want)
		}
	}
	if strings.Contains(string(index), ids[2]) {
		t.Error("index lists the run that wrote no report")
	}
	page, err := os.ReadFile(filepath.Join(dir, "reports", "diffs", pair))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`<td>model\.depth</td><td class="value">8</td><td class="value">12</td>`).Match(page) {
		t.Errorf("diff page does not show model.depth 8 → 12:\n%s", page)
	}

	out, code := datalabCmd(t, bin, dir, env, "report", "diff", "latest", "latest~1")
	if want := filepath.Join("reports", "diffs", ids[1]+".."+ids[0]+".html"); code != 0 || !strings.Contains(out, "wrote "+want) {
		t.Fatalf("report diff latest latest~1: exit %d\n%s", code, out)
	}
	out, code = datalabCmd(t, bin, dir, env, "report", "diff", "latest", "nosuchrun")
	if code == 0 || !strings.Contains(out, "nosuchrun") {
		t.Fatalf("report diff with an unknown run: exit %d\n%s", code, out)
	}
}
