package notebook

import (
	"bytes"
	"html"
	"io"
	"slices"
	"strings"

	xhtml "golang.org/x/net/html"
)

// TOCClass is the class of the table of contents InsertTOC adds to a page.
const TOCClass = "datalab-toc"

// tocEntry is one h2 heading of a page and the h3 headings under it.
type tocEntry struct {
	id, text string
	children []tocEntry
}

// InsertTOC returns the rendered page with a table of contents,
// <nav class="datalab-toc">, listing its h2 and h3 headings (h3 nested under
// the h2 before it) as links to the ids nbconvert gives headings; a heading
// without an id (nbconvert gives none to a heading holding raw HTML) is left
// out. The nav goes right after the parameters block (ParamsHTML), or after
// the first h1 when there is none, or at the start of the body. A page
// without such headings, or with a contents list already, is returned
// unchanged. The rest of the page is kept byte for byte, so the same page
// gives the same bytes.
func InsertTOC(page []byte) []byte {
	entries, at, ok := scanTOC(page)
	if !ok || len(entries) == 0 {
		return page
	}
	nav := tocHTML(entries)
	out := make([]byte, 0, len(page)+len(nav))
	out = append(out, page[:at]...)
	out = append(out, nav...)
	return append(out, page[at:]...)
}

// scanTOC reads the page's headings and the byte offset where the contents
// go. ok is false when the page has a contents list already.
func scanTOC(page []byte) (entries []tocEntry, at int, ok bool) {
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	var (
		offset      int  // bytes of page before the current token
		paramsEnd   = -1 // after the parameters block's </section>
		h1End       = -1 // after the first </h1>
		bodyStart   = -1 // after <body>
		sections    int  // open <section>s inside the parameters block
		heading     string
		headingID   string
		headingText strings.Builder
		skipAnchor  int // open <a>s inside a heading's anchor link (the ¶)
	)
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			if z.Err() != io.EOF {
				return nil, 0, false // never for a bytes.Reader; keep the page as it is
			}
			break
		}
		raw := len(z.Raw())
		tok := z.Token()
		end := offset + raw
		offset = end
		switch tt {
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			class := attr(tok, "class")
			switch {
			case tok.Data == "nav" && hasClass(class, TOCClass):
				return nil, 0, false
			case tok.Data == "body" && bodyStart < 0:
				bodyStart = end
			case tok.Data == "section" && paramsEnd < 0 && (sections > 0 || hasClass(class, "datalab-params")):
				sections++
			case (tok.Data == "h2" || tok.Data == "h3") && heading == "":
				heading, headingID = tok.Data, attr(tok, "id")
				headingText.Reset()
			case tok.Data == "a" && heading != "" && (skipAnchor > 0 || hasClass(class, "anchor-link")):
				skipAnchor++
			}
		case xhtml.EndTagToken:
			switch {
			case tok.Data == "section" && sections > 0:
				if sections--; sections == 0 {
					paramsEnd = end
				}
			case tok.Data == "h1" && h1End < 0:
				h1End = end
			case tok.Data == "a" && skipAnchor > 0:
				skipAnchor--
			case tok.Data == heading:
				if headingID != "" {
					text := strings.Join(strings.Fields(headingText.String()), " ")
					if text == "" {
						text = headingID
					}
					e := tocEntry{id: headingID, text: text}
					if n := len(entries); heading == "h3" && n > 0 {
						entries[n-1].children = append(entries[n-1].children, e)
					} else {
						entries = append(entries, e)
					}
				}
				heading, skipAnchor = "", 0
			}
		case xhtml.TextToken:
			if heading != "" && skipAnchor == 0 {
				headingText.WriteString(tok.Data)
			}
		}
	}
	for _, at := range []int{paramsEnd, h1End, bodyStart} {
		if at >= 0 {
			return entries, at, true
		}
	}
	return entries, 0, true
}

func attr(tok xhtml.Token, key string) string {
	for _, a := range tok.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(class, name string) bool {
	return slices.Contains(strings.Fields(class), name)
}

// tocHTML renders the contents list. Ids are used as they are in the page
// (a fragment is matched against ids before it is percent-decoded), escaped
// for the attribute.
func tocHTML(entries []tocEntry) string {
	var b strings.Builder
	b.WriteString("\n" + `<nav class="` + TOCClass + `" aria-label="Contents"><p class="datalab-toc-title">Contents</p>`)
	var list func([]tocEntry)
	list = func(es []tocEntry) {
		b.WriteString("<ul>")
		for _, e := range es {
			b.WriteString(`<li><a href="#` + html.EscapeString(e.id) + `">` + html.EscapeString(e.text) + `</a>`)
			if len(e.children) > 0 {
				list(e.children)
			}
			b.WriteString("</li>")
		}
		b.WriteString("</ul>")
	}
	list(entries)
	b.WriteString("</nav>\n")
	return b.String()
}
