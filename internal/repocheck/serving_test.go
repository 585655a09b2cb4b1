package repocheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testtree"
)

// servingOwner is the one package that runs HTTP servers and names the HTTP
// metrics (docs/architecture.md): every app, the predictor's endpoint and
// the dashboard listener go through serve.Serve (timeouts, graceful
// shutdown) and serve.Layer (security headers, request log,
// datalab_http_requests_total{app=…}), so that none of them drifts.
const servingOwner = "pipeline/serve"

// servingExceptions are the findings TestServingGoesThroughServe allows
// anyway, keyed as it names them ("<file>: <what>"), each with its reason.
// An exception no file needs any more fails the test.
var servingExceptions = map[string]string{
	"bench/matchapp/noop/main.go: calls http.ListenAndServe": "the match-app benchmark's floor: a bare net/http server, nothing in front, is what it measures",
	"ops/realengine/registry.go: constructs an http.Server":  "the real Dagger engine's image source on loopback (go-containerregistry's registry handler, dagger/realengine): a build tool's fixture, not a datalab server; it has timeouts",
}

// TestServingGoesThroughServe parses every non-test Go file of the module's
// packages (every platform and build tag) outside pipeline/serve and fails
// for each one that constructs an http.Server, runs one through net/http's
// ListenAndServe/Serve helpers (a server without timeouts), or spells an
// HTTP request metric of its own (a string holding "http_request", such as
// datalab_flight_http_requests_total).
func TestServingGoesThroughServe(t *testing.T) {
	root := testmirror.RepoRoot()
	_, dirs := listPackageDirs(t, root)
	found := servingFindings(t, root, dirs)
	// The check must see what it looks for: pipeline/serve itself builds the
	// server and names the metrics. Finding nothing there means the detector
	// or the layout broke, not that the module is clean.
	var own []string
	used := map[string]bool{}
	for _, f := range found {
		if path.Dir(f.file) == servingOwner {
			own = append(own, f.what)
			continue
		}
		if _, ok := servingExceptions[f.key()]; ok {
			used[f.key()] = true
			continue
		}
		t.Errorf("%s: %s outside %s: serve with serve.Serve behind a serve.Layer (serve.New), whose Handle and HandleMetrics count "+
			"requests in %s{app=…}; or add it to servingExceptions with the reason", f.pos, f.what, servingOwner, "datalab_http_requests_total")
	}
	for _, want := range []string{"constructs an http.Server", `names the HTTP metric "datalab_http_requests_total"`} {
		if !slices.Contains(own, want) {
			t.Errorf("%s no longer %s (found %q): the serving layer moved, or the check no longer sees it; update servingOwner", servingOwner, want, own)
		}
	}
	checkExceptionsUsed(t, "servingExceptions", servingExceptions, used)
}

// TestServingCheckCatchesViolations runs the detector on a small module
// with each kind of finding, under other import names, and with what it
// must let pass: a test file, a field of type http.Server, httptest.
func TestServingCheckCatchesViolations(t *testing.T) {
	root := t.TempDir()
	testtree.Write(t, root, map[string]string{
		"go.mod": "module example.com/srv\n\ngo 1.22\n",
		"app/a.go": "package app\n\nimport \"net/http\"\n\n" +
			"func Run(h http.Handler) error { s := &http.Server{Handler: h}; return s.ListenAndServe() }\n",
		"app/b.go": "package app\n\nimport nethttp \"net/http\"\n\n" +
			"var s = new(nethttp.Server)\n\nfunc Quick(h nethttp.Handler) error { return nethttp.ListenAndServe(\":1\", h) }\n",
		"app/metric.go": "package app\n\nconst requests = \"datalab_flight_http_requests_total\"\n",
		// Not findings: tests, a type used but not built, httptest.
		"app/a_test.go": "package app\n\nimport \"net/http\"\n\nvar _ = &http.Server{}\n",
		"app/field.go": "package app\n\nimport (\n\t\"net/http\"\n\t\"net/http/httptest\"\n)\n\n" +
			"type holder struct{ s *http.Server }\n\nfunc fake(h http.Handler) *httptest.Server { return httptest.NewServer(h) }\n",
		"other/o.go": "package other\n\nimport \"fmt\"\n\nfunc Serve() { fmt.Println(\"Server\") }\n",
	})
	var got []string
	for _, f := range servingFindings(t, root, []string{"app", "other"}) {
		got = append(got, f.pos+" "+f.what)
	}
	want := []string{
		"app/a.go:5 constructs an http.Server",
		"app/b.go:5 constructs an http.Server",
		"app/b.go:7 calls http.ListenAndServe",
		`app/metric.go:3 names the HTTP metric "datalab_flight_http_requests_total"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings\n%q\nwant\n%q", got, want)
	}
}

// servingFinding is one place that serves HTTP or names an HTTP metric.
type servingFinding struct {
	file string // slash-separated, relative to the module root
	pos  string // file:line
	what string
}

func (f servingFinding) key() string { return f.file + ": " + f.what }

// netHTTPServers are net/http's functions that build and run a server with
// no timeouts.
var netHTTPServers = []string{"ListenAndServe", "ListenAndServeTLS", "Serve", "ServeTLS"}

// servingFindings parses the non-test Go files of the package directories
// dirs (relative to root) and returns, in file order, every construction of
// an http.Server, call of a netHTTPServers function and string literal
// holding "http_request".
func servingFindings(t *testing.T, root string, dirs []string) []servingFinding {
	t.Helper()
	fset := token.NewFileSet()
	var out []servingFinding
	for _, rel := range dirs {
		entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			name := path.Join(rel, e.Name())
			f, err := parser.ParseFile(fset, filepath.Join(root, filepath.FromSlash(name)), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			add := func(n ast.Node, what string) {
				out = append(out, servingFinding{file: name, pos: fmt.Sprintf("%s:%d", name, fset.Position(n.Pos()).Line), what: what})
			}
			httpName := importName(f, "net/http")
			isHTTP := func(x ast.Expr, names ...string) (string, bool) {
				sel, ok := x.(*ast.SelectorExpr)
				if !ok || httpName == "" {
					return "", false
				}
				id, ok := sel.X.(*ast.Ident)
				return sel.Sel.Name, ok && id.Name == httpName && slices.Contains(names, sel.Sel.Name)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					if _, ok := isHTTP(n.Type, "Server"); ok {
						add(n, "constructs an http.Server")
					}
				case *ast.CallExpr:
					if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "new" && len(n.Args) == 1 {
						if _, ok := isHTTP(n.Args[0], "Server"); ok {
							add(n, "constructs an http.Server")
						}
					}
					if fn, ok := isHTTP(n.Fun, netHTTPServers...); ok {
						add(n, "calls http."+fn)
					}
				case *ast.BasicLit:
					if n.Kind != token.STRING {
						break
					}
					if s, err := strconv.Unquote(n.Value); err == nil && strings.Contains(s, "http_request") {
						add(n, fmt.Sprintf("names the HTTP metric %q", s))
					}
				}
				return true
			})
		}
	}
	return out
}

// importName is the name file f refers to the package importPath by, or ""
// when f does not import it (or imports it only for its side effects or
// with a dot).
func importName(f *ast.File, importPath string) string {
	for _, spec := range f.Imports {
		if p, err := strconv.Unquote(spec.Path.Value); err != nil || p != importPath {
			continue
		}
		if spec.Name == nil {
			return path.Base(importPath)
		}
		if spec.Name.Name == "_" || spec.Name.Name == "." {
			return ""
		}
		return spec.Name.Name
	}
	return ""
}
