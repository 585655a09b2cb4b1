package matchapp

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/registry"
)

// ModelVersionHeader names the model version on every prediction answer
// (API and form): the registry version id when the model comes from the
// registry, else the model's own version, as in the answer's and the log's
// model_version.
const ModelVersionHeader = "X-Model-Version"

// Loaded is one model version as the app serves it: the predictor, the
// version its answers carry and when it began serving.
type Loaded = registry.Loaded[matchwinner.Predictor]

// ModelSource yields the model version each request is answered with:
// *registry.Follower[matchwinner.Predictor] (`datalab serve --model
// registry:matches@champion`, swapped while serving) or FixedModel (a model
// directory).
type ModelSource interface {
	// Snapshot returns the version serving now and holds off any swap
	// until release is called. A request stamps its server time while
	// holding it, so that time orders it exactly against a swap, and uses
	// that one version for its prediction, its answer and its log entry.
	Snapshot() (cur *Loaded, release func())
	// Alias is the registry alias followed, "" for none.
	Alias() string
}

// FixedModel serves p for good (a model given by path) under p's own
// version, serving since since.
func FixedModel(p matchwinner.Predictor, since time.Time) ModelSource {
	return fixedModel{&Loaded{Version: p.Version(), Model: p, Since: since}}
}

type fixedModel struct{ cur *Loaded }

func (f fixedModel) Snapshot() (*Loaded, func()) { return f.cur, noRelease }
func (fixedModel) Alias() string                 { return "" }

func noRelease() {}

// servedModel is a version with what the app derives from it once: the
// team index of its error messages and form, and its header value.
type servedModel struct {
	*Loaded
	teams   map[string]bool
	byFold  map[string]string // lower-cased name → name, for "did you mean"
	wcTeams []string
	allN    int
	// header is ModelVersionHeader's value, shared by every answer (set
	// without allocating; net/http only reads it).
	header []string
}

func newServedModel(v *Loaded) *servedModel {
	m := &servedModel{Loaded: v, teams: map[string]bool{}, byFold: map[string]string{}, header: []string{v.Version}}
	all := v.Model.Teams()
	for _, t := range all {
		m.teams[t] = true
		m.byFold[foldName(t)] = t
	}
	m.allN = len(all)
	m.wcTeams = sortedCopy(v.Model.WorldCupTeams())
	return m
}

// servedModels keeps the servedModel of the latest two versions seen, so
// the requests of one version cost a pointer comparison and the answers
// still in flight with the old version after a swap do not rebuild it.
type servedModels struct {
	latest atomic.Pointer[servedModel]
	mu     sync.Mutex
	prev   *servedModel
}

func (c *servedModels) get(v *Loaded) *servedModel {
	if m := c.latest.Load(); m != nil && m.Loaded == v {
		return m
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.latest.Load(); m != nil && m.Loaded == v {
		return m
	}
	if c.prev != nil && c.prev.Loaded == v {
		return c.prev
	}
	m := newServedModel(v)
	c.prev = c.latest.Swap(m)
	return m
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
