// Package fakeengine is a stand-in Dagger engine session for tests, where no
// engine can run. It listens on 127.0.0.1 like the session a module runs in,
// checks the session token the SDK sends as the basic-auth user, parses every
// GraphQL query the SDK sends (with gqlparser: argument order inside a query
// is random, so queries are never compared as strings), records the chain of
// calls each one selects, and answers with IDs and values plausible enough
// for the SDK to carry on.
//
// Objects are tracked by the IDs it hands out: an ID that comes back as an
// argument (a mounted directory, a cache volume, a secret) or as the root of
// a later query (loadDirectoryFromID, node) resolves to the chain that made
// it, so tests can assert the whole graph a function built. Only queries that
// force evaluation (sync, stdout, publish, export, …) "run" anything; a
// configured failure makes those answer with the EXEC_ERROR a real engine
// sends when a command exits non-zero.
package fakeengine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"dagger.io/dagger"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// Call is one field selected in a query, with its arguments as parsed.
// Object arguments appear as the ID string the SDK sent.
type Call struct {
	Field string
	Args  map[string]any
}

// Chain is the calls that made an object, from the query root down.
type Chain []Call

// Eval is one query that forced evaluation: the object's chain and the field
// that forced it (sync, stdout, publish, …).
type Eval struct {
	Chain Chain
	Leaf  Call
}

// ExecFailure is how a failing command exits.
type ExecFailure struct {
	ExitCode       int
	Stdout, Stderr string
}

// evaluating fields make the engine run the graph; the fake records them.
var evaluating = map[string]bool{
	"sync": true, "stdout": true, "stderr": true, "exitCode": true,
	"publish": true, "export": true, "entries": true, "glob": true,
	"contents": true, "plaintext": true,
}

// Engine is a fake engine session. Set FailExec and Answer before the code
// under test runs.
type Engine struct {
	// FailExec, if set, is asked about every withExec in an evaluated graph;
	// a non-nil result fails the evaluation with that exit.
	FailExec func(args []string) *ExecFailure
	// Answer, if set, answers a leaf field the fake has no answer for (or
	// overrides one): return ok=false to fall back to the default.
	Answer func(chain Chain, leaf Call) (value any, ok bool)
	// Refuse, if set, may fail an evaluation with a plain GraphQL error (no
	// _type), as the engine does when, say, an image cannot be pulled.
	Refuse func(chain Chain, leaf Call) (message string)

	token string
	srv   *httptest.Server

	mu         sync.Mutex
	objects    map[string]Chain
	secrets    map[string]string // caller secret ID → plaintext
	nextID     int
	queries    []string
	evals      []Eval
	authFailed int
}

// Start serves a fake session on 127.0.0.1 for the rest of the test and
// points DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN at it, as the engine
// does for a module's process.
func Start(t testing.TB) *Engine {
	t.Helper()
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		t.Fatal(err)
	}
	e := &Engine{
		token:   hex.EncodeToString(tok),
		objects: map[string]Chain{},
		secrets: map[string]string{},
	}
	e.srv = httptest.NewUnstartedServer(e)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Listener = l
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	t.Setenv("DAGGER_SESSION_PORT", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	t.Setenv("DAGGER_SESSION_TOKEN", e.token)
	return e
}

// Connect connects the SDK the way a module does inside a session: through
// the session variables Start set (any other way would download the CLI).
func (e *Engine) Connect(t testing.TB) *dagger.Client {
	t.Helper()
	c, err := dagger.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Secret registers a secret the caller owns (as `--password env:X` makes
// one): code under test gets only its ID; the fake knows the plaintext so a
// test can check that it never travels.
func (e *Engine) Secret(c *dagger.Client, id, plaintext string) *dagger.Secret {
	e.mu.Lock()
	e.secrets[id] = plaintext
	e.mu.Unlock()
	return c.LoadSecretFromID(dagger.SecretID(id))
}

// Queries returns every query received, verbatim.
func (e *Engine) Queries() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.queries...)
}

// Evals returns the evaluating queries received, in order.
func (e *Engine) Evals() []Eval {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Eval(nil), e.evals...)
}

// AuthFailures counts requests whose basic-auth user was not the token.
func (e *Engine) AuthFailures() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.authFailed
}

// Object returns the chain of an ID the fake handed out.
func (e *Engine) Object(id string) (Chain, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.objects[id]
	return c, ok
}

type request struct {
	Query string `json:"query"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []string       `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// ServeHTTP answers one GraphQL request.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if user, _, ok := r.BasicAuth(); !ok || user != e.token {
		e.mu.Lock()
		e.authFailed++
		e.mu.Unlock()
		http.Error(w, "fake engine: wrong or missing session token", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "fake engine: "+err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.queries = append(e.queries, req.Query)
	data, gerr := e.answer(req.Query)
	e.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	resp := map[string]any{"data": data}
	if gerr != nil {
		resp = map[string]any{"data": nil, "errors": []gqlError{*gerr}}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// step is one level of a query: a field or an inline fragment.
type step struct {
	call     Call
	key      string // response key: alias or field name; "" for a fragment
	fragment string
}

// answer parses and answers a query; e.mu is held.
func (e *Engine) answer(query string) (any, *gqlError) {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return nil, &gqlError{Message: "fake engine: parse: " + err.Error()}
	}
	if len(doc.Operations) != 1 {
		return nil, &gqlError{Message: "fake engine: want one operation"}
	}
	steps, err := flatten(doc.Operations[0].SelectionSet)
	if err != nil {
		return nil, &gqlError{Message: "fake engine: " + err.Error()}
	}
	var fields []step
	for _, s := range steps {
		if s.fragment == "" {
			fields = append(fields, s)
		}
	}
	if len(fields) == 0 {
		return nil, &gqlError{Message: "fake engine: empty query"}
	}
	leaf := fields[len(fields)-1].call
	chain := e.resolve(callsOf(fields[:len(fields)-1]))

	var value any
	if evaluating[leaf.Field] {
		e.evals = append(e.evals, Eval{Chain: chain, Leaf: leaf})
		if gerr := e.execFailure(chain, fields); gerr != nil {
			return nil, gerr
		}
		if e.Refuse != nil {
			if msg := e.Refuse(chain, leaf); msg != "" {
				return nil, &gqlError{Message: msg}
			}
		}
	}
	if v, ok := e.custom(chain, leaf); ok {
		value = v
	} else {
		switch leaf.Field {
		case "id", "sync":
			value = e.register(chain)
		case "__typename":
			value = typeName(steps)
		case "stdout", "stderr", "contents":
			value = ""
		case "exitCode":
			value = 0
		case "publish":
			addr, _ := leaf.Args["address"].(string)
			sum := sha256.Sum256([]byte(addr))
			value = addr + "@sha256:" + hex.EncodeToString(sum[:])
		case "export":
			value = leaf.Args["path"]
		case "entries", "glob":
			value = []string{}
		case "plaintext":
			value = e.plaintextOf(chain)
		default:
			return nil, &gqlError{Message: "fake engine: no answer for field " + leaf.Field}
		}
	}
	return nest(steps, value), nil
}

func (e *Engine) custom(chain Chain, leaf Call) (any, bool) {
	if e.Answer == nil {
		return nil, false
	}
	return e.Answer(chain, leaf)
}

// flatten turns a single-path selection set into its steps.
func flatten(set ast.SelectionSet) ([]step, error) {
	var steps []step
	for len(set) > 0 {
		if len(set) != 1 {
			return nil, fmt.Errorf("want one selection per level, got %d", len(set))
		}
		switch s := set[0].(type) {
		case *ast.Field:
			args := map[string]any{}
			for _, a := range s.Arguments {
				v, err := a.Value.Value(nil)
				if err != nil {
					return nil, fmt.Errorf("argument %s of %s: %w", a.Name, s.Name, err)
				}
				args[a.Name] = v
			}
			key := s.Name
			if s.Alias != "" {
				key = s.Alias
			}
			steps = append(steps, step{call: Call{Field: s.Name, Args: args}, key: key})
			set = s.SelectionSet
		case *ast.InlineFragment:
			steps = append(steps, step{fragment: s.TypeCondition})
			set = s.SelectionSet
		default:
			return nil, fmt.Errorf("unsupported selection %T", s)
		}
	}
	return steps, nil
}

func callsOf(steps []step) Chain {
	c := make(Chain, len(steps))
	for i, s := range steps {
		c[i] = s.call
	}
	return c
}

// resolve replaces a chain's root that loads an object by an ID this fake
// handed out (loadXFromID, node) with that object's own chain. A root ID it
// did not hand out stays as it is: an object the caller owns.
func (e *Engine) resolve(c Chain) Chain {
	if len(c) == 0 {
		return c
	}
	root := c[0]
	if root.Field != "node" && !(strings.HasPrefix(root.Field, "load") && strings.HasSuffix(root.Field, "FromID")) {
		return c
	}
	id, _ := root.Args["id"].(string)
	prev, ok := e.objects[id]
	if !ok {
		return c
	}
	return append(append(Chain{}, prev...), c[1:]...)
}

// register hands out a new ID for chain.
func (e *Engine) register(chain Chain) string {
	e.nextID++
	id := fmt.Sprintf("fake-id-%d", e.nextID)
	e.objects[id] = chain
	return id
}

// execFailure checks every command the evaluated graph runs, including the
// graphs of objects passed as arguments.
func (e *Engine) execFailure(chain Chain, fields []step) *gqlError {
	if e.FailExec == nil {
		return nil
	}
	for _, args := range e.execs(chain, map[string]bool{}) {
		f := e.FailExec(args)
		if f == nil {
			continue
		}
		var path []string
		for _, s := range fields {
			path = append(path, s.key)
		}
		return &gqlError{
			Message: fmt.Sprintf("process %q did not complete successfully: exit code: %d", strings.Join(args, " "), f.ExitCode),
			Path:    path,
			Extensions: map[string]any{
				"_type":    "EXEC_ERROR",
				"exitCode": f.ExitCode,
				"stdout":   f.Stdout,
				"stderr":   f.Stderr,
				"cmd":      args,
			},
		}
	}
	return nil
}

// execs lists the withExec argument lists of chain and of every object
// passed to it by ID, in order.
func (e *Engine) execs(chain Chain, seen map[string]bool) [][]string {
	var out [][]string
	for _, c := range chain {
		for _, v := range c.Args {
			if id, ok := v.(string); ok && !seen[id] {
				if sub, ok := e.objects[id]; ok {
					seen[id] = true
					out = append(out, e.execs(sub, seen)...)
				}
			}
		}
		if c.Field == "withExec" {
			out = append(out, Strings(c.Args["args"]))
		}
	}
	return out
}

// plaintextOf answers Secret.plaintext for a secret the caller registered.
func (e *Engine) plaintextOf(chain Chain) string {
	if len(chain) > 0 {
		if id, ok := chain[0].Args["id"].(string); ok {
			if p, ok := e.secrets[id]; ok {
				return p
			}
		}
	}
	return ""
}

// typeName is the inline fragment's type, as `__typename` under it answers.
func typeName(steps []step) string {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].fragment != "" {
			return steps[i].fragment
		}
	}
	return "Query"
}

// nest wraps value in the response objects of the fields above it; inline
// fragments add no level.
func nest(steps []step, value any) any {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].fragment != "" {
			continue
		}
		value = map[string]any{steps[i].key: value}
	}
	return value
}

// Strings converts a parsed list argument to strings.
func Strings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
