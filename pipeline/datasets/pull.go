package datasets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/progress"
)

// PullOptions configure [Catalog.Pull].
type PullOptions struct {
	// Store is the object store directory; empty means DefaultStoreDir.
	Store string
	// Mirror is a mirror root to read files from (see File.Mirror): a
	// directory, or an object storage URL (see BucketMirror); empty means
	// no mirror.
	Mirror string
	// NoOrigin stops pull from downloading origin URLs (offline use).
	NoOrigin bool
	// HTTPClient and Timeout configure origin downloads (see URLSource).
	HTTPClient *http.Client
	Timeout    time.Duration
	// Force replaces working files that differ from their pointers. Without
	// it such files are kept and reported, since they may be the user's work.
	Force bool
	// Logger receives one line per materialised file; nil means slog.Default.
	Logger *slog.Logger
}

// Where a pulled file came from.
const (
	FromWorking = "working" // already present and verified
	FromStore   = "store"
	FromMirror  = "mirror"
	FromURL     = "url"
	FromEmpty   = "empty" // a 0-byte file needs no source
)

// PulledFile is one file that pull left present and verified.
type PulledFile struct {
	Set   string `json:"set"`
	Path  string `json:"path"`
	From  string `json:"from"`
	Bytes int64  `json:"bytes"`
}

// PullResult lists what [Catalog.Pull] materialised.
type PullResult struct {
	Files []PulledFile `json:"files"`
}

// Count returns how many files came from source from (one of the From…
// constants).
func (r PullResult) Count(from string) int {
	n := 0
	for _, f := range r.Files {
		if f.From == from {
			n++
		}
	}
	return n
}

// FileFailure is a file pull could not materialise, with what each source
// said.
type FileFailure struct {
	Set         string
	Path        string
	WorkingPath string
	Errs        []error
}

// PullError lists every file that pull could not materialise; the other
// files were materialised.
type PullError struct{ Failures []FileFailure }

func (e *PullError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pull failed for %d file(s):", len(e.Failures))
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "\n  %s:", f.WorkingPath)
		for _, err := range f.Errs {
			fmt.Fprintf(&b, "\n    - %v", err)
		}
	}
	return b.String()
}

// Unwrap exposes the per-source errors to errors.Is/As.
func (e *PullError) Unwrap() []error {
	var errs []error
	for _, f := range e.Failures {
		errs = append(errs, f.Errs...)
	}
	return errs
}

// ModifiedError says a working file differs from its pointer and was left
// alone.
type ModifiedError struct {
	WorkingPath string
	Want, Got   Pointer
}

func (e *ModifiedError) Error() string {
	return fmt.Sprintf("working file differs from its pointer (declared %s, found %s) and was kept: run `datalab data add %s` to declare your version, or `datalab data pull --force` to replace it with the declared one",
		e.Want, e.Got, e.WorkingPath)
}

// Pull materialises the files of the named sets (all sets when names is
// empty) into the object store and their working paths. For each file it
// tries the store, then opts.Mirror, then the file's origin URL, verifying
// sha256 and size of whatever it reads; a source with wrong bytes is
// reported and the next one tried. Files that no source could supply, and
// modified working files (unless opts.Force), make Pull return a
// *PullError after it has done every file it could.
func (c *Catalog) Pull(ctx context.Context, names []string, opts PullOptions) (PullResult, error) {
	sets, err := c.selectSets(names)
	if err != nil {
		return PullResult{}, err
	}
	p := puller{opts: opts, store: c.store(opts.Store), log: opts.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	if opts.Mirror != "" {
		src, closeMirror, err := mirrorSource(ctx, opts.Mirror)
		if err != nil {
			return PullResult{}, err
		}
		defer closeMirror()
		p.sources = append(p.sources, sourceKind{src, FromMirror})
	}
	if !opts.NoOrigin {
		p.sources = append(p.sources, sourceKind{URLSource{Client: opts.HTTPClient, Timeout: opts.Timeout}, FromURL})
	}
	var res PullResult
	var perr PullError
	for _, s := range sets {
		for _, f := range s.Files {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			from, errs := p.pullFile(ctx, s, f)
			if from == "" {
				perr.Failures = append(perr.Failures, FileFailure{Set: s.Name, Path: f.Path, WorkingPath: s.WorkingPath(f), Errs: errs})
				continue
			}
			res.Files = append(res.Files, PulledFile{Set: s.Name, Path: f.Path, From: from, Bytes: f.Size})
			// Downloads are worth a line; local copies only when debugging.
			level := slog.LevelDebug
			if from == FromURL {
				level = slog.LevelInfo
			}
			if from != FromWorking {
				p.log.Log(ctx, level, "materialised", "set", s.Name, "file", f.Path, "from", from, "bytes", f.Size)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if len(perr.Failures) > 0 {
		return res, &perr
	}
	return res, nil
}

type sourceKind struct {
	Source
	from string
}

type puller struct {
	opts    PullOptions
	store   Store
	sources []sourceKind
	log     *slog.Logger
}

// pullFile returns where f came from, or "" and why no source worked.
func (p *puller) pullFile(ctx context.Context, s *Set, f *File) (string, []error) {
	wp := s.WorkingPath(f)
	if st, err := os.Lstat(wp); err == nil {
		if !st.Mode().IsRegular() {
			return "", []error{fmt.Errorf("%s exists but is not a regular file: move it away and pull again", wp)}
		}
		got, err := HashFile(wp)
		if err != nil {
			return "", []error{err}
		}
		if got == f.Pointer {
			if f.Size > 0 && !p.store.Has(f.Pointer) {
				if err := p.store.PutFile(wp, f.Pointer); err != nil {
					return "", []error{fmt.Errorf("copy into the object store: %w", err)}
				}
			}
			return FromWorking, nil
		}
		if !p.opts.Force {
			return "", []error{&ModifiedError{WorkingPath: wp, Want: f.Pointer, Got: got}}
		}
	}
	if f.Size == 0 {
		if err := atomicfile.WriteFileIn(s.cat.dir, s.workingRel(f), nil); err != nil {
			return "", []error{err}
		}
		return FromEmpty, nil
	}

	var errs []error
	if p.store.Has(f.Pointer) {
		ok, err := p.fromStore(s, f)
		if ok {
			return FromStore, nil
		}
		errs = append(errs, err)
	}
	for _, src := range p.sources {
		if err := p.fetch(ctx, src, s, f); err != nil {
			if ctx.Err() != nil {
				return "", []error{ctx.Err()}
			}
			errs = append(errs, err)
			continue
		}
		ok, err := p.fromStore(s, f)
		if ok {
			return src.from, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("not in the object store, and no mirror or origin URL to try (set --mirror / DATALAB_MIRROR)"))
	}
	return "", errs
}

// fromStore copies the stored object to f's working path, verifying it; a
// corrupt object is deleted so that the next source can replace it.
func (p *puller) fromStore(s *Set, f *File) (bool, error) {
	wp, want := s.WorkingPath(f), f.Pointer
	obj := p.store.Path(want.Oid)
	r, err := os.Open(obj)
	if err != nil {
		return false, fmt.Errorf("object store: %w", err)
	}
	defer r.Close()
	mm, err := copyVerified(s.cat.dir, s.workingRel(f), r, want)
	if err != nil {
		return false, fmt.Errorf("write %s: %w", wp, err)
	}
	if mm != nil {
		os.Remove(obj)
		mm.File, mm.Source = wp, "object store copy "+obj
		mm.Hint = "the stored object was corrupt and has been removed; the next source is tried"
		return false, mm
	}
	return true, nil
}

// fetch verifies f's bytes from src into the object store.
func (p *puller) fetch(ctx context.Context, src sourceKind, s *Set, f *File) error {
	rc, err := src.Open(ctx, s, f)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	defer rc.Close()
	var bar *progress.Bar
	if f.Size >= 1<<20 {
		bar = progress.New(f.Size, fmt.Sprintf("%s/%s (%s)", s.Name, f.Path, src.from), true)
		defer bar.Finish()
	}
	mm, err := p.store.put(bar.Reader(ctxReader{ctx, rc}), f.Pointer)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if mm != nil {
		mm.File = s.WorkingPath(f)
		mm.Source = src.String()
		if src.from == FromURL {
			mm.Source = "origin " + f.URL
		} else if ms, ok := src.Source.(MirrorSource); ok {
			mm.Source = "mirror copy " + ms.Dir + "/" + f.Mirror
		} else if bm, ok := src.Source.(BucketMirror); ok {
			mm.Source = "mirror copy " + f.Mirror + " in " + bm.Store.String()
		}
		mm.Hint = src.Hint(s.WorkingPath(f))
		return mm
	}
	return nil
}
