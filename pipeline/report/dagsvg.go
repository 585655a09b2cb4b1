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
	col   int     // column: the layer it is drawn in
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

// dagSegment joins an item to an item of the next layer; end names the
// stage an arrow points at (-1: a lane).
type dagSegment struct {
	from, to *dagItem
	end      int
}

// dagLayout is the stage graph being drawn: its items by column, the box
// of each stage, the lanes keyed by source stage and layer, and the
// segments between items of neighbouring columns.
type dagLayout struct {
	nodes  []stagerun.DAGNode
	boxW   float64
	cols   [][]*dagItem
	box    []*dagItem
	lane   map[[2]int]*dagItem
	segs   []dagSegment
	inner  float64 // height of the tallest column
	width  float64
	height float64
}

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
	g := newDAGLayout(nodes)
	g.route()
	g.order()
	g.place()
	return template.HTML(g.svg())
}

// newDAGLayout sizes the boxes to the longest stage name and puts each
// stage's box in the column of its layer, in execution order.
func newDAGLayout(nodes []stagerun.DAGNode) *dagLayout {
	maxName, layers := 0, 0
	for _, n := range nodes {
		maxName = max(maxName, len([]rune(n.Name)))
		layers = max(layers, n.Layer+1)
	}
	g := &dagLayout{
		nodes: nodes,
		boxW:  float64(maxName)*dagCharWidth + 20,
		cols:  make([][]*dagItem, layers),
		box:   make([]*dagItem, len(nodes)),
		lane:  map[[2]int]*dagItem{},
	}
	for i, n := range nodes {
		g.box[i] = &dagItem{stage: i, col: n.Layer}
		g.cols[n.Layer] = append(g.cols[n.Layer], g.box[i])
	}
	return g
}

// route adds the segments of every edge, each drawn once: an edge that
// skips layers goes through its source stage's lane in each layer between.
func (g *dagLayout) route() {
	index := map[string]int{}
	for i, n := range g.nodes {
		index[n.Name] = i
	}
	seen := map[[2]*dagItem]bool{}
	addSeg := func(a, b *dagItem, end int) {
		if !seen[[2]*dagItem{a, b}] {
			seen[[2]*dagItem{a, b}] = true
			g.segs = append(g.segs, dagSegment{a, b, end})
		}
	}
	for i, n := range g.nodes {
		for _, u := range n.Upstream {
			j := index[u]
			prev := g.box[j]
			for l := g.nodes[j].Layer + 1; l < n.Layer; l++ {
				k := [2]int{j, l}
				if g.lane[k] == nil {
					g.lane[k] = &dagItem{stage: j, lane: true, col: l}
					g.cols[l] = append(g.cols[l], g.lane[k])
				}
				addSeg(prev, g.lane[k], -1)
				prev = g.lane[k]
			}
			addSeg(prev, g.box[i], i)
		}
	}
}

// order sets the rows of each column: lanes after the boxes, ordered by
// source stage for a deterministic start, then a forward, a backward and a
// forward sweep by the mean row of the neighbours.
func (g *dagLayout) order() {
	for _, col := range g.cols {
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
		numberRows(col)
	}
	preds := map[*dagItem][]*dagItem{}
	succs := map[*dagItem][]*dagItem{}
	for _, s := range g.segs {
		preds[s.to] = append(preds[s.to], s.from)
		succs[s.from] = append(succs[s.from], s.to)
	}
	layers := len(g.cols)
	for c := 1; c < layers; c++ {
		sweep(g.cols[c], preds)
	}
	for c := layers - 2; c >= 0; c-- {
		sweep(g.cols[c], succs)
	}
	for c := 1; c < layers; c++ {
		sweep(g.cols[c], preds)
	}
}

// sweep reorders col by the mean row of each item's neighbours in nbrs
// (items without any keep their row as key; ties keep their order).
func sweep(col []*dagItem, nbrs map[*dagItem][]*dagItem) {
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
	numberRows(col)
}

// numberRows sets each item's row to its index in col.
func numberRows(col []*dagItem) {
	for r, it := range col {
		it.pos = float64(r)
	}
}

// place sizes the picture to the tallest column and stacks each column's
// items from the top, the column centred vertically.
func (g *dagLayout) place() {
	for _, col := range g.cols {
		g.inner = max(g.inner, colHeight(col))
	}
	g.height = g.inner + 2*dagMargin
	g.width = float64(len(g.cols))*(g.boxW+dagColGap) - dagColGap + 2*dagMargin
	for _, col := range g.cols {
		y := dagMargin + (g.inner-colHeight(col))/2
		for _, it := range col {
			it.y = y
			y += it.height() + dagGap
		}
	}
}

// colHeight is the height of a column's items with the gaps between them.
func colHeight(col []*dagItem) float64 {
	h := 0.0
	for _, it := range col {
		h += it.height() + dagGap
	}
	return h - dagGap
}

// colX is the left edge of column c.
func (g *dagLayout) colX(c int) float64 { return dagMargin + float64(c)*(g.boxW+dagColGap) }

// svg writes the picture: lanes and arrows first, the boxes over them.
func (g *dagLayout) svg() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="Pipeline stage graph: %d stages, %d edges">`,
		dagNum(g.width), dagNum(g.height), dagNum(g.width), dagNum(g.height), len(g.nodes), stagerun.EdgeCount(g.nodes))
	b.WriteString(`<defs><marker id="dag-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#57606a"/></marker></defs>`)
	b.WriteString(`<g fill="none" stroke="#8c959f" stroke-width="1.3">`)
	g.writeLanes(&b)
	g.writeSegments(&b)
	b.WriteString(`</g><g font-family="Liberation Sans,Arial,Helvetica,sans-serif" font-size="12" text-anchor="middle">`)
	g.writeBoxes(&b)
	b.WriteString(`</g></svg>`)
	return b.String()
}

// writeLanes draws each lane as a straight line through its column, in
// the order of source stage and layer.
func (g *dagLayout) writeLanes(b *strings.Builder) {
	for _, k := range slices.SortedFunc(maps.Keys(g.lane), func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	}) {
		it := g.lane[k]
		x := g.colX(k[1])
		fmt.Fprintf(b, `<path d="M%s,%sH%s"><title>outputs of %s</title></path>`,
			dagNum(x), dagNum(it.mid()), dagNum(x+g.boxW), html.EscapeString(g.nodes[k[0]].Name))
	}
}

// writeSegments draws each segment as a curve; one that ends at a stage
// has an arrowhead and names both stages.
func (g *dagLayout) writeSegments(b *strings.Builder) {
	for _, s := range g.segs {
		x1, y1 := g.colX(s.from.col)+g.boxW, s.from.mid()
		x2, y2 := g.colX(s.to.col), s.to.mid()
		mid := (x1 + x2) / 2
		marker, title := "", "outputs of "+g.nodes[s.from.stage].Name
		if s.end >= 0 {
			marker = ` marker-end="url(#dag-arrow)"`
			title = g.nodes[s.from.stage].Name + " → " + g.nodes[s.end].Name
		}
		fmt.Fprintf(b, `<path d="M%s,%sC%s,%s %s,%s %s,%s"%s><title>%s</title></path>`,
			dagNum(x1), dagNum(y1), dagNum(mid), dagNum(y1), dagNum(mid), dagNum(y2), dagNum(x2), dagNum(y2), marker, html.EscapeString(title))
	}
}

// writeBoxes draws a labelled box per stage, in execution order, its
// tooltip naming its layer and upstream stages.
func (g *dagLayout) writeBoxes(b *strings.Builder) {
	for i, n := range g.nodes {
		tip := fmt.Sprintf("%s (layer %d)", n.Name, n.Layer)
		if len(n.Upstream) > 0 {
			tip += " ← " + strings.Join(n.Upstream, ", ")
		}
		x, y := g.colX(n.Layer), g.box[i].y
		fmt.Fprintf(b, `<g class="stage"><title>%s</title><rect x="%s" y="%s" width="%s" height="%d" rx="5" fill="#f6f8fa" stroke="#57606a"/><text x="%s" y="%s" fill="#1b1f23">%s</text></g>`,
			html.EscapeString(tip), dagNum(x), dagNum(y), dagNum(g.boxW), dagBoxHeight, dagNum(x+g.boxW/2), dagNum(y+dagBoxHeight/2+4), html.EscapeString(n.Name))
	}
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
