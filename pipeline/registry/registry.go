// Package registry keeps trained model directories as immutable versions
// and moves named aliases (champion, challenger, any name) between them,
// with the history of every move, in an object store (pipeline/objstore: a
// directory by default, s3:// or gs://).
//
// A version is the content hash of a model directory (the sha256 of its
// manifest lines, so the same files register as the same version whoever
// trained them — datalab or Spark) and records its lineage: run id, commit,
// data oids, parameters, metrics and the evaluation data the metrics were
// computed on. An alias is one small object holding its current version and
// every move it made; a move is a compare-and-swap of that object
// (objstore.SwapRef), so of two concurrent promotions exactly one wins and
// the other gets ErrConflict, and the history can never disagree with the
// alias. Promotion passes a gate (Gate): the candidate's metrics against the
// current version's, on the same evaluation data, within a tolerance.
//
// Layout under the registry's location:
//
//	<model>/versions/<id>/version.json   Version
//	<model>/versions/<id>/files/…        the model directory (objstore.UploadDir)
//	<model>/aliases/<alias>.json         Alias (current version and moves)
//	<model>/serving/<time>-<instance>.json  a server started serving a version
package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/objstore"
)

// EnvLocation names the registry's location; DefaultLocation is used when
// it is unset.
const (
	EnvLocation     = "DATALAB_REGISTRY"
	DefaultLocation = ".datalab/registry"
)

// DefaultAlias is the alias servers follow and promotions move by default.
const DefaultAlias = "champion"

// ErrConflict is wrapped when an alias moved between reading and writing
// it: another promotion won. Nothing was changed; read again and retry.
var ErrConflict = objstore.ErrConflict

// ErrNotFound is wrapped for unknown models, versions and aliases.
var ErrNotFound = objstore.ErrNotFound

// ErrGate is wrapped when a promotion is refused by the gate.
var ErrGate = errors.New("promotion refused by the gate")

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// CheckName validates a model or alias name: lowercase letters, digits,
// '-' and '_', starting with a letter or digit.
func CheckName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s name %q: use lowercase letters, digits, '-' and '_' (at most 63), starting with a letter or digit", kind, name)
	}
	return nil
}

// Metric is one evaluation figure of a version.
type Metric struct {
	Key            string  `json:"key"`
	Value          float64 `json:"value"`
	HigherIsBetter bool    `json:"higher_is_better"`
}

// Lineage is where a version came from.
type Lineage struct {
	RunID    string            `json:"run_id,omitempty"`
	Commit   string            `json:"commit,omitempty"`
	Dirty    bool              `json:"dirty,omitempty"`
	DataOids map[string]string `json:"data_oids,omitempty"`
	Params   map[string]any    `json:"params,omitempty"`
}

// Version is a registered model directory.
type Version struct {
	Model string `json:"model"`
	// ID is the hex sha256 over the directory's "path sha256" manifest
	// lines; Short is how it is shown.
	ID         string    `json:"id"`
	Registered time.Time `json:"registered"`
	// Source is the directory it was registered from, for people.
	Source string `json:"source,omitempty"`
	// Format describes the files, e.g. "spark-mllib
	// org.apache.spark.ml.classification.RandomForestClassificationModel".
	Format string `json:"format,omitempty"`
	// TrainedBy says what wrote the model ("datalab", "spark 3.5.1", …).
	TrainedBy string   `json:"trained_by,omitempty"`
	Files     int      `json:"files"`
	Bytes     int64    `json:"bytes"`
	Lineage   Lineage  `json:"lineage"`
	Metrics   []Metric `json:"metrics,omitempty"`
	// EvalData identifies the data Metrics were computed on (e.g. the
	// test split's data oid and split parameters, hashed); the gate only
	// compares versions evaluated on the same data.
	EvalData string `json:"eval_data,omitempty"`
	// Variant is the use case's name for this model configuration
	// (form3, seed, …), if any.
	Variant string `json:"variant,omitempty"`
}

// Short is the first 12 hex digits of a version id.
func Short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Metric returns the metric named key.
func (v *Version) Metric(key string) (Metric, bool) {
	for _, m := range v.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return Metric{}, false
}

// Move is one change of an alias.
type Move struct {
	Seq    int       `json:"seq"`
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // "promote" or "rollback"
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	// Forced is set when --force overrode the gate; Gate holds the gate's
	// verdict as printed.
	Forced bool   `json:"forced,omitempty"`
	Gate   string `json:"gate,omitempty"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Alias is an alias object: its current version and every move.
type Alias struct {
	Model   string `json:"model"`
	Name    string `json:"alias"`
	Version string `json:"version"`
	Moves   []Move `json:"moves"`
}

// stack is the alias's undo stack: promotions push, rollbacks pop.
func (a *Alias) stack() []string {
	var s []string
	for _, m := range a.Moves {
		switch m.Action {
		case "rollback":
			if len(s) > 0 {
				s = s[:len(s)-1]
			}
			if len(s) == 0 || s[len(s)-1] != m.To {
				s = append(s, m.To) // a rollback --to a version off the stack
			}
		default:
			s = append(s, m.To)
		}
	}
	return s
}

// Previous is the version a rollback returns to: the one before the
// current on the undo stack, "" when there is none.
func (a *Alias) Previous() string {
	s := a.stack()
	if len(s) < 2 {
		return ""
	}
	return s[len(s)-2]
}

// Serving records that a server started answering with a version.
type Serving struct {
	Model    string    `json:"model"`
	Alias    string    `json:"alias,omitempty"`
	Version  string    `json:"version"`
	Instance string    `json:"instance"`
	Since    time.Time `json:"since"`
}

// Registry is an opened registry.
type Registry struct {
	store *objstore.Store
	// Now is the clock moves and registrations are stamped with.
	Now func() time.Time
}

// Location is the registry location from the environment, or the default.
func Location() string {
	if l := os.Getenv(EnvLocation); l != "" {
		return l
	}
	return DefaultLocation
}

// Open opens the registry at location (a directory, file://, s3:// or
// gs:// URL).
func Open(ctx context.Context, location string) (*Registry, error) {
	s, err := objstore.Open(ctx, location)
	if err != nil {
		return nil, fmt.Errorf("model registry: %w", err)
	}
	return &Registry{store: s, Now: time.Now}, nil
}

// String is the registry's location.
func (r *Registry) String() string { return r.store.String() }

// Close releases the store.
func (r *Registry) Close() error { return r.store.Close() }

func versionKey(model, id string) string { return model + "/versions/" + id + "/version.json" }
func filesKey(model, id string) string   { return model + "/versions/" + id + "/files" }
func aliasKey(model, alias string) string {
	return model + "/aliases/" + alias + ".json"
}

// DirID is the version id of a local model directory.
func DirID(dir string) (string, *objstore.Manifest, error) {
	m, err := objstore.LocalManifest(dir)
	if err != nil {
		return "", nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	if len(m.Files) == 0 {
		return "", nil, fmt.Errorf("model directory %s is empty", dir)
	}
	h := sha256.New()
	for _, f := range m.Files {
		fmt.Fprintf(h, "%s %s\n", f.Path, f.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil)), m, nil
}

// Register stores the model directory dir as a version of v.Model (filling
// in ID, Registered, Files and Bytes) and returns it. Registering the same
// files again returns the existing version unchanged (created false).
func (r *Registry) Register(ctx context.Context, dir string, v Version) (Version, bool, error) {
	if err := CheckName("model", v.Model); err != nil {
		return Version{}, false, err
	}
	id, m, err := DirID(dir)
	if err != nil {
		return Version{}, false, err
	}
	if old, err := r.Version(ctx, v.Model, id); err == nil {
		return old, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Version{}, false, err
	}
	v.ID, v.Files, v.Bytes = id, len(m.Files), m.Size()
	v.Registered = r.Now().UTC().Truncate(time.Millisecond)
	// Files first, the record last: a version is listed only when whole.
	got, _, err := r.store.UploadDir(ctx, filesKey(v.Model, id), dir)
	if err != nil {
		return Version{}, false, err
	}
	if !got.Equal(m) {
		return Version{}, false, fmt.Errorf("model directory %s changed while it was being registered; register it again", dir)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return Version{}, false, err
	}
	if _, err := r.store.Put(ctx, versionKey(v.Model, id), append(b, '\n')); err != nil {
		return Version{}, false, err
	}
	return v, true, nil
}

// Version reads a version record; id may be a unique prefix (at least 6
// hex digits) or "<alias>" prefixed with '@'.
func (r *Registry) Version(ctx context.Context, model, id string) (Version, error) {
	full, err := r.resolve(ctx, model, id)
	if err != nil {
		return Version{}, err
	}
	b, err := r.store.Get(ctx, versionKey(model, full), "")
	if err != nil {
		return Version{}, err
	}
	var v Version
	if err := json.Unmarshal(b, &v); err != nil {
		return Version{}, fmt.Errorf("version record %s: %w", versionKey(model, full), err)
	}
	return v, nil
}

// resolve turns a version reference (full id, prefix, @alias) into an id.
func (r *Registry) resolve(ctx context.Context, model, ref string) (string, error) {
	if alias, ok := strings.CutPrefix(ref, "@"); ok {
		a, err := r.Alias(ctx, model, alias)
		if err != nil {
			return "", err
		}
		if a.Version == "" {
			return "", fmt.Errorf("alias %s@%s points at no version: %w", model, alias, ErrNotFound)
		}
		return a.Version, nil
	}
	if len(ref) == 64 {
		return ref, nil
	}
	if len(ref) < 6 {
		return "", fmt.Errorf("version %q: give at least 6 hex digits of the id, or @alias", ref)
	}
	ids, err := r.ids(ctx, model)
	if err != nil {
		return "", err
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("model %s has no version %s (datalab models list %s): %w", model, ref, model, ErrNotFound)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("version %s of %s is ambiguous (%d versions start with it): give more digits", ref, model, len(match))
}

func (r *Registry) ids(ctx context.Context, model string) ([]string, error) {
	objs, err := r.store.List(ctx, model+"/versions/")
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, model+"/versions/")
		if id, ok := strings.CutSuffix(rest, "/version.json"); ok && !strings.Contains(id, "/") {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Versions lists a model's versions, oldest registration first.
func (r *Registry) Versions(ctx context.Context, model string) ([]Version, error) {
	ids, err := r.ids(ctx, model)
	if err != nil {
		return nil, err
	}
	vs := make([]Version, 0, len(ids))
	for _, id := range ids {
		v, err := r.Version(ctx, model, id)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	sort.SliceStable(vs, func(i, j int) bool {
		if !vs[i].Registered.Equal(vs[j].Registered) {
			return vs[i].Registered.Before(vs[j].Registered)
		}
		return vs[i].ID < vs[j].ID
	})
	return vs, nil
}

// Models lists the models the registry holds.
func (r *Registry) Models(ctx context.Context) ([]string, error) {
	objs, err := r.store.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var models []string
	for _, o := range objs {
		m, rest, ok := strings.Cut(o.Key, "/")
		if ok && strings.HasPrefix(rest, "versions/") && !slices.Contains(models, m) {
			models = append(models, m)
		}
	}
	sort.Strings(models)
	return models, nil
}

// Alias reads an alias; one that was never set is an Alias with no
// version (not an error).
func (r *Registry) Alias(ctx context.Context, model, alias string) (Alias, error) {
	a, _, err := r.readAlias(ctx, model, alias)
	return a, err
}

func (r *Registry) readAlias(ctx context.Context, model, alias string) (Alias, objstore.Ref, error) {
	if err := CheckName("alias", alias); err != nil {
		return Alias{}, objstore.Ref{}, err
	}
	ref, err := r.store.ReadRef(ctx, aliasKey(model, alias))
	if err != nil {
		return Alias{}, objstore.Ref{}, err
	}
	a := Alias{Model: model, Name: alias}
	if ref.Exists() {
		if err := json.Unmarshal(ref.Data, &a); err != nil {
			return Alias{}, objstore.Ref{}, fmt.Errorf("alias %s@%s is damaged (%s): %w", model, alias, aliasKey(model, alias), err)
		}
	}
	return a, ref, nil
}

// Aliases lists a model's aliases by name.
func (r *Registry) Aliases(ctx context.Context, model string) ([]Alias, error) {
	objs, err := r.store.List(ctx, model+"/aliases/")
	if err != nil {
		return nil, err
	}
	var as []Alias
	for _, o := range objs {
		name, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, model+"/aliases/"), ".json")
		if !ok || CheckName("alias", name) != nil {
			continue
		}
		a, err := r.Alias(ctx, model, name)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, nil
}

// AliasesOf lists the alias names pointing at version id.
func AliasesOf(as []Alias, id string) []string {
	var names []string
	for _, a := range as {
		if a.Version == id {
			names = append(names, a.Name)
		}
	}
	return names
}

// PromoteOptions tune a promotion.
type PromoteOptions struct {
	Gate   GateOptions
	Force  bool   // promote even if the gate refuses; the move records it
	By     string // who, for the history
	Reason string
}

// Promote moves alias to version ref (an id, prefix or @other-alias) if
// the gate lets it, in one compare-and-swap. It returns the move and the
// gate's verdict; a refusal wraps ErrGate, a lost race ErrConflict.
func (r *Registry) Promote(ctx context.Context, model, alias, ref string, o PromoteOptions) (Move, GateResult, error) {
	cand, err := r.Version(ctx, model, ref)
	if err != nil {
		return Move{}, GateResult{}, err
	}
	a, old, err := r.readAlias(ctx, model, alias)
	if err != nil {
		return Move{}, GateResult{}, err
	}
	if a.Version == cand.ID {
		return Move{}, GateResult{}, fmt.Errorf("%s@%s already is %s: nothing to promote", model, alias, Short(cand.ID))
	}
	var gate GateResult
	if a.Version != "" {
		cur, err := r.Version(ctx, model, a.Version)
		if err != nil {
			return Move{}, GateResult{}, err
		}
		gate = Gate(cur, cand, o.Gate)
	} else {
		gate = GateResult{Pass: true, Summary: "first version of the alias: no gate"}
	}
	if !gate.Pass && !o.Force {
		return Move{}, gate, fmt.Errorf("%s@%s: %s → %s: %w:\n%s\n(--force promotes anyway and records it)",
			model, alias, Short(a.Version), Short(cand.ID), ErrGate, gate.Text())
	}
	mv := Move{Action: "promote", From: a.Version, To: cand.ID, Forced: !gate.Pass && o.Force,
		Gate: gate.Text(), By: o.By, Reason: o.Reason}
	mv, err = r.move(ctx, a, old, mv)
	return mv, gate, err
}

// Rollback moves alias back to the version before its current one (the
// undo stack of its moves), or to version ref when ref is not empty. No
// gate: a rollback is the way out of a bad promotion.
func (r *Registry) Rollback(ctx context.Context, model, alias, ref string, o PromoteOptions) (Move, error) {
	a, old, err := r.readAlias(ctx, model, alias)
	if err != nil {
		return Move{}, err
	}
	target := a.Previous()
	if ref != "" {
		v, err := r.Version(ctx, model, ref)
		if err != nil {
			return Move{}, err
		}
		target = v.ID
	}
	if target == "" {
		return Move{}, fmt.Errorf("%s@%s has no earlier version to roll back to (datalab models history %s)", model, alias, model)
	}
	if target == a.Version {
		return Move{}, fmt.Errorf("%s@%s already is %s", model, alias, Short(target))
	}
	return r.move(ctx, a, old, Move{Action: "rollback", From: a.Version, To: target, By: o.By, Reason: o.Reason})
}

// move appends mv to a and swaps the alias object; ErrConflict if it moved
// since old was read.
func (r *Registry) move(ctx context.Context, a Alias, old objstore.Ref, mv Move) (Move, error) {
	mv.Seq = len(a.Moves) + 1
	mv.Time = r.Now().UTC().Truncate(time.Millisecond)
	a.Version = mv.To
	a.Moves = append(a.Moves, mv)
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return Move{}, err
	}
	if err := r.store.SwapRef(ctx, aliasKey(a.Model, a.Name), old, append(b, '\n')); err != nil {
		if errors.Is(err, ErrConflict) {
			return Move{}, fmt.Errorf("%s@%s was moved by someone else while this %s was deciding; nothing was changed — look at `datalab models history %s` and run it again: %w",
				a.Model, a.Name, mv.Action, a.Model, err)
		}
		return Move{}, err
	}
	return mv, nil
}

// Fetch makes version id of model available as a local directory under
// cacheDir (<cacheDir>/<model>/<id>), downloading and verifying it once;
// later calls reuse the verified copy.
func (r *Registry) Fetch(ctx context.Context, model, id, cacheDir string) (string, error) {
	dir := filepath.Join(cacheDir, model, id)
	if got, _, err := DirID(dir); err == nil && got == id {
		return dir, nil
	}
	tmp := dir + ".partial"
	os.RemoveAll(tmp)
	if _, err := r.store.DownloadDir(ctx, filesKey(model, id), tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if got, _, err := DirID(tmp); err != nil || got != id {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("version %s of %s downloaded as %s: the registry's copy is damaged", Short(id), model, Short(got))
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// RecordServing notes that a server began answering with a version.
func (r *Registry) RecordServing(ctx context.Context, s Serving) error {
	s.Since = s.Since.UTC()
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	inst := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			return c
		}
		return '_'
	}, strings.ToLower(s.Instance))
	key := fmt.Sprintf("%s/serving/%s-%s-%s.json", s.Model, s.Since.Format("20060102T150405.000000000Z"), inst, Short(s.Version))
	_, err = r.store.Put(ctx, key, append(b, '\n'))
	return err
}

// Servings lists what servers recorded, oldest first.
func (r *Registry) Servings(ctx context.Context, model string) ([]Serving, error) {
	objs, err := r.store.List(ctx, model+"/serving/")
	if err != nil {
		return nil, err
	}
	var out []Serving
	for _, o := range objs {
		b, err := r.store.Get(ctx, o.Key, "")
		if err != nil {
			return nil, err
		}
		var s Serving
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("serving record %s: %w", o.Key, err)
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out, nil
}
