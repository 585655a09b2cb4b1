package datasets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// ErrNotFound is wrapped by a [Source] that does not hold a file.
var ErrNotFound = errors.New("not found")

// Source is somewhere [Catalog.Pull] can find the bytes of a declared file,
// after the local object store. The bytes are verified by the caller, so a
// source need not be trusted.
type Source interface {
	// String names the source in messages, e.g. "mirror /data/mirror".
	String() string
	// Open returns the content of f of set s, or an error wrapping
	// ErrNotFound when this source does not hold it.
	Open(ctx context.Context, s *Set, f *File) (io.ReadCloser, error)
	// Hint tells the user what to do when this source's copy of working
	// file wp does not match its pointer.
	Hint(wp string) string
}

// MirrorSource reads files from a local mirror of the data sets (the
// DATALAB_MIRROR directory), at each file's declared mirror path.
type MirrorSource struct{ Dir string }

// String implements [Source].
func (m MirrorSource) String() string { return "mirror " + m.Dir }

// Open implements [Source].
func (m MirrorSource) Open(ctx context.Context, s *Set, f *File) (io.ReadCloser, error) {
	if f.Mirror == "" {
		return nil, fmt.Errorf("no mirror path declared in the catalog: %w", ErrNotFound)
	}
	p := filepath.Join(m.Dir, filepath.FromSlash(f.Mirror))
	r, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Hint implements [Source].
func (m MirrorSource) Hint(wp string) string {
	return fmt.Sprintf("the mirror copy differs from the declared pointer: re-download or restore the mirror file, or run `datalab data add %s` (after copying the new file there) if the change is intended", wp)
}

// DefaultDownloadTimeout bounds one origin download when
// [URLSource.Timeout] is zero.
const DefaultDownloadTimeout = 10 * time.Minute

// URLSource downloads files from their declared origin URL over HTTP(S).
type URLSource struct {
	// Client defaults to http.DefaultClient.
	Client *http.Client
	// Timeout bounds each download (connection to last byte); zero means
	// DefaultDownloadTimeout.
	Timeout time.Duration
}

// String implements [Source].
func (u URLSource) String() string { return "origin URL" }

// Open implements [Source].
func (u URLSource) Open(ctx context.Context, s *Set, f *File) (io.ReadCloser, error) {
	if f.URL == "" {
		return nil, fmt.Errorf("no origin URL declared in the catalog: %w", ErrNotFound)
	}
	timeout := u.Timeout
	if timeout <= 0 {
		timeout = DefaultDownloadTimeout
	}
	client := u.Client
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET %s: %w", f.URL, err)
	}
	req.Header.Set("User-Agent", "datalab (data pull)")
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET %s: %w", f.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
			return nil, fmt.Errorf("GET %s: %s: %w", f.URL, resp.Status, ErrNotFound)
		}
		return nil, fmt.Errorf("GET %s: %s", f.URL, resp.Status)
	}
	return cancelOnClose{resp.Body, cancel}, nil
}

// Hint implements [Source].
func (u URLSource) Hint(wp string) string {
	return fmt.Sprintf("the origin serves different bytes than the declared pointer (upstream may have changed the file): if the new version is wanted, download it to %s and run `datalab data add %s`", wp, wp)
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// ctxReader stops a long local copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
