package notebook_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	xhtml "golang.org/x/net/html"

	"github.com/datalabhq/datalab/pipeline/notebook"
)

// A page as nbconvert renders it: headings carry ids and a ¶ anchor link.
const tocPage = `<!DOCTYPE html>
<html><head><title>t</title><style>h2 { color: red } /* <h2 id="css">not a heading</h2> */</style></head>
<body>
<div class="text_cell_render"><h1 id="Title">Title<a class="anchor-link" href="#Title">&#182;</a></h1>
<p>Intro.</p></div>
<section class="datalab-params" aria-label="Parameters of this run"><p class="datalab-params-title">Parameters of this run</p><p>This notebook takes no parameters.</p></section>
<div class="text_cell_render">
<h3 id="Before-any-h2">Before any h2<a class="anchor-link" href="#Before-any-h2">&#182;</a></h3>
<h2 id="Rates-&amp;-&lt;ratios&gt;">Rates &amp; &lt;ratios&gt;<a class="anchor-link" href="#Rates-&amp;-&lt;ratios&gt;">&#182;</a></h2>
<h3 id="By-year">By <code>year</code><a class="anchor-link" href="#By-year">&#182;</a></h3>
<h4 id="Deep">Deep<a class="anchor-link" href="#Deep">&#182;</a></h4>
<h3 id="By-&quot;team&quot;">By "team"<a class="anchor-link" href="#By-&quot;team&quot;">&#182;</a></h3>
<h2>Raw <x> heading, no id</h2>
<h2 id="Last">Last<a class="anchor-link" href="#Last">&#182;</a></h2>
</div>
<div class="output_html"><table><tr><td>h2 in a cell</td></tr></table></div>
</body></html>
`

const tocWant = `
<nav class="datalab-toc" aria-label="Contents"><p class="datalab-toc-title">Contents</p><ul>` +
	`<li><a href="#Before-any-h2">Before any h2</a></li>` +
	`<li><a href="#Rates-&amp;-&lt;ratios&gt;">Rates &amp; &lt;ratios&gt;</a><ul>` +
	`<li><a href="#By-year">By year</a></li>` +
	`<li><a href="#By-&#34;team&#34;">By &#34;team&#34;</a></li></ul></li>` +
	`<li><a href="#Last">Last</a></li></ul></nav>
`

func TestInsertTOC(t *testing.T) {
	got := notebook.InsertTOC([]byte(tocPage))
	// The contents go right after the parameters block, and the page is
	// otherwise kept byte for byte.
	const after = `This notebook takes no parameters.</p></section>`
	i := strings.Index(tocPage, after) + len(after)
	if want := tocPage[:i] + tocWant + tocPage[i:]; string(got) != want {
		t.Errorf("InsertTOC:\n%s\nwant\n%s", got, want)
	}
	checkTOCLinks(t, got, 5)
	if again := notebook.InsertTOC(got); !bytes.Equal(again, got) {
		t.Error("InsertTOC on a page with contents added a second list")
	}
	if again := notebook.InsertTOC([]byte(tocPage)); !bytes.Equal(again, got) {
		t.Error("InsertTOC is not deterministic")
	}
}

func TestInsertTOCPlacement(t *testing.T) {
	const body = `<h2 id="A">A</h2>`
	nav := `
<nav class="datalab-toc" aria-label="Contents"><p class="datalab-toc-title">Contents</p><ul><li><a href="#A">A</a></li></ul></nav>
`
	for _, c := range []struct{ name, page, want string }{
		{"after the title without a parameters block",
			`<html><body><div><h1 id="T">T</h1><p>x</p></div>` + body + `</body></html>`,
			`<html><body><div><h1 id="T">T</h1>` + nav + `<p>x</p></div>` + body + `</body></html>`},
		{"start of the body without a title",
			`<html><body class="b">` + body + `</body></html>`,
			`<html><body class="b">` + nav + body + `</body></html>`},
		{"nested sections in the parameters block",
			`<body><section class="x datalab-params"><section>in</section></section><p>p</p>` + body,
			`<body><section class="x datalab-params"><section>in</section></section>` + nav + `<p>p</p>` + body},
		{"no h2 or h3 with an id: unchanged",
			`<html><body><h1 id="T">T</h1><h2>no id</h2><h4 id="d">d</h4></body></html>`,
			`<html><body><h1 id="T">T</h1><h2>no id</h2><h4 id="d">d</h4></body></html>`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := string(notebook.InsertTOC([]byte(c.page))); got != c.want {
				t.Errorf("InsertTOC(%s)\n= %s\nwant %s", c.page, got, c.want)
			}
		})
	}
}

// checkTOCLinks fails unless the page has one contents list with n links,
// each to an element of the page.
func checkTOCLinks(t *testing.T, page []byte, n int) {
	t.Helper()
	doc, err := xhtml.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	var hrefs []string
	navs := 0
	var walk func(*xhtml.Node, bool)
	walk = func(nd *xhtml.Node, inNav bool) {
		if nd.Type == xhtml.ElementNode {
			for _, a := range nd.Attr {
				switch {
				case a.Key == "id":
					ids[a.Val] = true
				case a.Key == "class" && nd.Data == "nav" && a.Val == notebook.TOCClass:
					navs++
					inNav = true
				case a.Key == "href" && inNav:
					hrefs = append(hrefs, a.Val)
				}
			}
		}
		for c := nd.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inNav)
		}
	}
	walk(doc, false)
	if navs != 1 {
		t.Errorf("page has %d contents lists, want 1", navs)
	}
	if len(hrefs) != n {
		t.Errorf("contents has %d links %q, want %d", len(hrefs), hrefs, n)
	}
	for _, h := range hrefs {
		if id, ok := strings.CutPrefix(h, "#"); !ok || !ids[id] {
			t.Errorf("contents link %q names no element of the page", h)
		}
	}
}

var tocItemRE = regexp.MustCompile(`<li><a href="#[^"]*">([^<]*)</a>`)

// TestRenderFoldedCellsAndTOC renders testdata/sections.ipynb through
// nbconvert and GoNB: the hide-input cell's code is folded in a <details>
// with its output shown, the remove-input cell's code is absent and its
// output shown, the contents list every h2 and h3 in order and link to the
// headings' ids, and a second rendering has the same bytes.
func TestRenderFoldedCellsAndTOC(t *testing.T) {
	t.Parallel()
	root := needKernel(t)
	nb := filepath.Join("testdata", "sections.ipynb")
	var pages [2][]byte
	for i := range pages {
		res, err := notebook.Runner{Root: root, OutDir: t.TempDir()}.Run(t.Context(), nb)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rendered in %v", res.Duration)
		if pages[i], err = os.ReadFile(res.HTML); err != nil {
			t.Fatal(err)
		}
	}
	page := string(pages[0])
	if !bytes.Equal(pages[0], pages[1]) {
		t.Errorf("two renderings differ (%d and %d bytes): the page must be byte-stable", len(pages[0]), len(pages[1]))
	}

	t.Run("folded cells", func(t *testing.T) {
		folded := regexp.MustCompile(`(?s)<details class="datalab-hidden-input">\s*<summary>Code \(4 lines\)</summary>(.*?)</details>(.*?)</div>\s*</div>\s*</div>`).FindStringSubmatch(page)
		if folded == nil {
			t.Fatal("page has no folded input <details class=\"datalab-hidden-input\"> with a 4-line summary")
		}
		if !strings.Contains(folded[1], "setUpDone") || !strings.Contains(folded[2], "set-up output") {
			t.Errorf("folded cell: code %q, outputs %q; want the set-up code inside <details> and its output after", folded[1], folded[2])
		}
		if n := strings.Count(page, `<details class="datalab-hidden-input">`); n != 1 {
			t.Errorf("page has %d folded inputs, want 1 (only the hide-input cell)", n)
		}
		if strings.Contains(page, "removedCode") || !strings.Contains(page, "removed-input output") {
			t.Error("remove-input cell: want its output without its code")
		}
		if !strings.Contains(page, "plainCode") {
			t.Error("an untagged cell's code is missing")
		}
		if !strings.Contains(page, "details.datalab-hidden-input") {
			t.Error("the datalab template does not style folded inputs")
		}
		if !strings.Contains(page, `<div class=" highlight hl-go">`) || strings.Contains(page, "hl-ipython") {
			t.Error("code is not highlighted as Go (the kernel's language)")
		}
		if strings.Contains(page, "<script") {
			t.Error("page has a script")
		}
	})

	t.Run("contents", func(t *testing.T) {
		checkTOCLinks(t, pages[0], 4)
		var items []string
		for _, m := range tocItemRE.FindAllStringSubmatch(page, -1) {
			items = append(items, m[1])
		}
		if want := []string{"Set-up", "Rates &amp; &#34;ratios&#34;", "By year", "By team: 45%"}; strings.Join(items, "|") != strings.Join(want, "|") {
			t.Errorf("contents items %q, want %q", items, want)
		}
		nav := strings.Index(page, `<nav class="datalab-toc"`)
		params := strings.Index(page, `class="datalab-params"`)
		first := strings.Index(page, `id="Set-up"`)
		if !(params > 0 && nav > params && nav < first) {
			t.Errorf("contents at %d, want after the parameters block (%d) and before the first heading (%d)", nav, params, first)
		}
		if !strings.Contains(page, `</a><ul><li><a href="#By-year">`) {
			t.Error("the h3 headings are not nested under their h2")
		}
		if !strings.Contains(page, "nav.datalab-toc") {
			t.Error("the datalab template does not style the contents")
		}
	})
}
