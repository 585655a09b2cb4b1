package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/internal/golden"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

func realDAG(t *testing.T) []stagerun.DAGNode {
	t.Helper()
	p, err := stagerun.Load("../../datalab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p.DAG()
}

// The picture of datalab.yaml's graph is well-formed XML with one box and
// label per stage and one arrow per edge, and the same bytes every time.
func TestDAGSVG(t *testing.T) {
	nodes := realDAG(t)
	svg := string(DAGSVG(nodes))
	if svg != string(DAGSVG(realDAG(t))) {
		t.Error("DAGSVG is not deterministic")
	}
	count := map[string]int{}
	var labels []string
	dec := xml.NewDecoder(strings.NewReader(svg))
	var inText bool
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			count[e.Name.Local]++
			inText = e.Name.Local == "text"
		case xml.CharData:
			if inText {
				labels = append(labels, string(e))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if count["svg"] != 1 || count["rect"] != len(nodes) || count["text"] != len(nodes) {
		t.Errorf("elements %v for %d stages", count, len(nodes))
	}
	if got, want := strings.Count(svg, `marker-end=`), stagerun.EdgeCount(nodes); got != want {
		t.Errorf("%d arrows, want %d (one per edge)", got, want)
	}
	for i, n := range nodes {
		if i >= len(labels) || labels[i] != n.Name {
			t.Errorf("label %d = %q, want %q", i, labels, n.Name)
			break
		}
	}
	if !strings.Contains(svg, `viewBox="0 0 `) || !strings.Contains(svg, `<title>evaluate-matches → report-matches</title>`) {
		t.Errorf("SVG lacks its viewBox or an edge title:\n%s", svg)
	}
	if DAGSVG(nil) != "" {
		t.Error("an empty graph draws something")
	}
}

// The picture of a small fixed graph, byte for byte: two edges that skip
// layers (through lanes, one shared by a source's two long edges), a
// stage with three upstream stages, and a name to escape. The layout
// (rows, coordinates, number format) and the markup cannot change unseen;
// go test ./pipeline/report -run TestDAGSVGGolden -update rewrites it.
func TestDAGSVGGolden(t *testing.T) {
	nodes := []stagerun.DAGNode{
		{Name: "ingest-a", Layer: 0},
		{Name: "ingest-b", Layer: 0},
		{Name: "features", Upstream: []string{"ingest-a", "ingest-b"}, Layer: 1},
		{Name: "train", Upstream: []string{"features"}, Layer: 2},
		{Name: "evaluate", Upstream: []string{"train", "ingest-b"}, Layer: 3},
		{Name: "report<&>", Upstream: []string{"ingest-b", "features", "evaluate"}, Layer: 4},
	}
	golden.Check(t, "dag.golden.svg", string(DAGSVG(nodes))+"\n")
}

// In Chromium the picture has a real size, no two stage boxes overlap and
// every label fits inside its box.
func TestDAGSVGInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	dir := t.TempDir()
	var page bytes.Buffer
	page.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>dag</title></head><body>`)
	page.WriteString(string(DAGSVG(realDAG(t))))
	page.WriteString(`</body></html>`)
	if err := os.WriteFile(filepath.Join(dir, "dag.html"), page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	b := browsertest.New(t, 60*time.Second)
	b.Do(t, chromedp.Navigate(srv.URL+"/dag.html"))
	type rect struct{ X, Y, W, H, TextW float64 }
	boxes := browsertest.Get(t, b, chromedp.Evaluate[[]rect](`Array.from(document.querySelectorAll("svg.dag g.stage")).map(g => {
		const r = g.querySelector("rect").getBBox(), t = g.querySelector("text").getBBox();
		return {X: r.x, Y: r.y, W: r.width, H: r.height, TextW: t.width};
	})`))
	if len(boxes) != len(realDAG(t)) {
		t.Fatalf("%d stage boxes drawn", len(boxes))
	}
	for i, a := range boxes {
		if a.TextW <= 0 || a.TextW > a.W {
			t.Errorf("box %d: label %.0f px wide in a %.0f px box", i, a.TextW, a.W)
		}
		for j, c := range boxes[:i] {
			if a.X < c.X+c.W && c.X < a.X+a.W && a.Y < c.Y+c.H && c.Y < a.Y+a.H {
				t.Errorf("boxes %d and %d overlap: %+v %+v", j, i, c, a)
			}
		}
	}
	size := browsertest.Get(t, b, chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector("svg.dag").getBoundingClientRect(); return [r.width, r.height]; })()`))
	if size[0] < 400 || size[1] < 100 {
		t.Errorf("picture laid out at %v px", size)
	}
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// The report commands write pipeline.svg; the index shows it.
func TestDAGOnIndex(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDAGFile(dir, realDAG(t)); err != nil {
		t.Fatal(err)
	}
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte(string(DAGSVG(realDAG(t))))) {
		t.Error("index.html does not show the stage graph of pipeline.svg")
	}
}
