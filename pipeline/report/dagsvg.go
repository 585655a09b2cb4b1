package report

import (
	"fmt"
	"html"
	"html/template"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Layout of the stage graph picture, in SVG user units (px).
const (
	dagCharWidth = 7.2 // average advance of the 12px sans-serif labels
	dagBoxHeight = 28
	dagLaneSize  = 6 // height of a lane: a long edge passing a layer
	dagGap       = 10
	dagColGap    = 56
	dagMargin    = 8
)

// dagItem is a box (a stage) or a lane (the outputs of stage src passing
// through a layer on their way to later layers) in one column.
type dagItem struct {
	stage int // index of the stage; for a lane, of its source stage
	lane  bool
	pos   float64 // row within its column, for ordering
	y     float64 // top
}

func (it *dagItem) height() float64 {
	if it.lane {
		return dagLaneSize
	}
	return dagBoxHeight
}

func (it *dagItem) mid() float64 { return it.y + it.height()/2 }

// DAGSVG draws the pipeline's stage graph (stagerun.Pipeline.DAG) as an
// inline SVG, layered the Sugiyama way: one column per layer (topological
// depth), left to right, a box per stage, and an arrow from each upstream
// stage to each stage that reads its outputs. An edge that skips layers
// runs through a lane in each layer it passes — one lane per source stage
// and layer, shared by all its long edges — so no arrow crosses a box.
// Columns are ordered by the mean position of the neighbours (a forward,
// a backward and a forward sweep; ties keep execution order). The drawing
// depends only on the graph: the same pipeline file gives the same bytes.
// Boxes and arrows carry <title> tooltips; the picture has a role and label
// for screen readers.
func DAGSVG(nodes []stagerun.DAGNode) template.HTML {
	if len(nodes) == 0 {
		return ""
	}
	index := map[string]int{}
	maxName, layers := 0, 0
	for i, n := range nodes {
		index[n.Name] = i
		maxName = max(maxName, len([]rune(n.Name)))
		layers = max(layers, n.Layer+1)
	}
	boxW := float64(maxName)*dagCharWidth + 20

	// Columns of items; lanes keyed by source stage and layer.
	cols := make([][]*dagItem, layers)
	box := make([]*dagItem, len(nodes))
	lane := map[[2]int]*dagItem{}
	for i, n := range nodes {
		box[i] = &dagItem{stage: i}
		cols[n.Layer] = append(cols[n.Layer], box[i])
	}
	// Segments join an item to an item of the next layer; each is drawn
	// once. end names the stage an arrow points at (-1: a lane).
	type segment struct {
		from, to *dagItem
		end      int
	}
	var segs []segment
	seen := map[[2]*dagItem]bool{}
	addSeg := func(a, b *dagItem, end int) {
		if !seen[[2]*dagItem{a, b}] {
			seen[[2]*dagItem{a, b}] = true
			segs = append(segs, segment{a, b, end})
		}
	}
	for i, n := range nodes {
		for _, u := range n.Upstream {
			j := index[u]
			prev := box[j]
			for l := nodes[j].Layer + 1; l < n.Layer; l++ {
				k := [2]int{j, l}
				if lane[k] == nil {
					lane[k] = &dagItem{stage: j, lane: true}
					cols[l] = append(cols[l], lane[k])
				}
				addSeg(prev, lane[k], -1)
				prev = lane[k]
			}
			addSeg(prev, box[i], i)
		}
	}
	// Lanes come after the boxes in a column; order lanes by source stage
	// for a deterministic start.
	for _, col := range cols {
		slices.SortStableFunc(col, func(a, b *dagItem) int {
			if a.lane != b.lane {
				if a.lane {
					return 1
				}
				return -1
			}
			if a.lane {
				return a.stage - b.stage
			}
			return 0
		})
		for r, it := range col {
			it.pos = float64(r)
		}
	}
	preds := map[*dagItem][]*dagItem{}
	succs := map[*dagItem][]*dagItem{}
	for _, s := range segs {
		preds[s.to] = append(preds[s.to], s.from)
		succs[s.from] = append(succs[s.from], s.to)
	}
	sweep := func(c int, nbrs map[*dagItem][]*dagItem) {
		col := cols[c]
		key := map[*dagItem]float64{}
		for _, it := range col {
			key[it] = it.pos
			if ns := nbrs[it]; len(ns) > 0 {
				sum := 0.0
				for _, n := range ns {
					sum += n.pos
				}
				key[it] = sum / float64(len(ns))
			}
		}
		slices.SortStableFunc(col, func(a, b *dagItem) int {
			switch {
			case key[a] < key[b]:
				return -1
			case key[a] > key[b]:
				return 1
			}
			return 0
		})
		for r, it := range col {
			it.pos = float64(r)
		}
	}
	for c := 1; c < layers; c++ {
		sweep(c, preds)
	}
	for c := layers - 2; c >= 0; c-- {
		sweep(c, succs)
	}
	for c := 1; c < layers; c++ {
		sweep(c, preds)
	}

	colHeight := func(col []*dagItem) float64 {
		h := 0.0
		for _, it := range col {
			h += it.height() + dagGap
		}
		return h - dagGap
	}
	inner := 0.0
	for _, col := range cols {
		inner = max(inner, colHeight(col))
	}
	height := inner + 2*dagMargin
	width := float64(layers)*(boxW+dagColGap) - dagColGap + 2*dagMargin
	colX := func(c int) float64 { return dagMargin + float64(c)*(boxW+dagColGap) }
	layerOf := map[*dagItem]int{}
	for c, col := range cols {
		y := dagMargin + (inner-colHeight(col))/2
		for _, it := range col {
			it.y = y
			y += it.height() + dagGap
			layerOf[it] = c
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="Pipeline stage graph: %d stages, %d edges">`,
		dagNum(width), dagNum(height), dagNum(width), dagNum(height), len(nodes), stagerun.EdgeCount(nodes))
	b.WriteString(`<defs><marker id="dag-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#57606a"/></marker></defs>`)
	b.WriteString(`<g fill="none" stroke="#8c959f" stroke-width="1.3">`)
	// Lanes: a straight line through the column.
	for _, k := range slices.SortedFunc(maps.Keys(lane), func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	}) {
		it := lane[k]
		x := colX(k[1])
		fmt.Fprintf(&b, `<path d="M%s,%sH%s"><title>outputs of %s</title></path>`,
			dagNum(x), dagNum(it.mid()), dagNum(x+boxW), html.EscapeString(nodes[k[0]].Name))
	}
	for _, s := range segs {
		x1, y1 := colX(layerOf[s.from])+boxW, s.from.mid()
		x2, y2 := colX(layerOf[s.to]), s.to.mid()
		mid := (x1 + x2) / 2
		marker, title := "", "outputs of "+nodes[s.from.stage].Name
		if s.end >= 0 {
			marker = ` marker-end="url(#dag-arrow)"`
			title = nodes[s.from.stage].Name + " → " + nodes[s.end].Name
		}
		fmt.Fprintf(&b, `<path d="M%s,%sC%s,%s %s,%s %s,%s"%s><title>%s</title></path>`,
			dagNum(x1), dagNum(y1), dagNum(mid), dagNum(y1), dagNum(mid), dagNum(y2), dagNum(x2), dagNum(y2), marker, html.EscapeString(title))
	}
	b.WriteString(`</g><g font-family="Liberation Sans,Arial,Helvetica,sans-serif" font-size="12" text-anchor="middle">`)
	for i, n := range nodes {
		tip := fmt.Sprintf("%s (layer %d)", n.Name, n.Layer)
		if len(n.Upstream) > 0 {
			tip += " ← " + strings.Join(n.Upstream, ", ")
		}
		x, y := colX(n.Layer), box[i].y
		fmt.Fprintf(&b, `<g class="stage"><title>%s</title><rect x="%s" y="%s" width="%s" height="%d" rx="5" fill="#f6f8fa" stroke="#57606a"/><text x="%s" y="%s" fill="#1b1f23">%s</text></g>`,
			html.EscapeString(tip), dagNum(x), dagNum(y), dagNum(boxW), dagBoxHeight, dagNum(x+boxW/2), dagNum(y+dagBoxHeight/2+4), html.EscapeString(n.Name))
	}
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

// WriteDAGFile writes the picture of the stage graph to
// <reportsDir>/pipeline.svg (DAGFile), a standalone SVG file that BuildIndex
// inlines on the first index page. The file is rewritten only when its
// bytes change; the report commands call it with the pipeline they read.
func WriteDAGFile(reportsDir string, nodes []stagerun.DAGNode) error {
	if err := writeIfChanged(filepath.Join(reportsDir, DAGFile), []byte(DAGSVG(nodes)+"\n")); err != nil {
		return fmt.Errorf("write the stage graph picture: %w", err)
	}
	return nil
}

// dagNum prints a coordinate with at most one decimal, without trailing zeros.
func dagNum(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}
