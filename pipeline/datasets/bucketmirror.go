package datasets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/datalabhq/datalab/pipeline/objstore"
)

// BucketMirror reads files from a mirror in object storage
// (DATALAB_MIRROR=s3://bucket/prefix?region=…, gs://…, file://…): each
// file's declared mirror path is its key, as in a directory mirror. The
// bytes are verified against the pointer by Pull, like every source's.
type BucketMirror struct{ Store *objstore.Store }

// String implements [Source].
func (m BucketMirror) String() string { return "mirror " + m.Store.String() }

// Open implements [Source].
func (m BucketMirror) Open(ctx context.Context, s *Set, f *File) (io.ReadCloser, error) {
	if f.Mirror == "" {
		return nil, fmt.Errorf("no mirror path declared in the catalog: %w", ErrNotFound)
	}
	r, err := m.Store.NewReader(ctx, f.Mirror)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", err, ErrNotFound)
	}
	return r, err
}

// Hint implements [Source]: the same advice as for a directory mirror.
func (m BucketMirror) Hint(wp string) string { return MirrorSource{}.Hint(wp) }

// mirrorSource opens the mirror named by --mirror / DATALAB_MIRROR: a local
// directory or an object storage URL. close releases it.
func mirrorSource(ctx context.Context, mirror string) (src Source, close func(), err error) {
	if strings.Contains(mirror, "://") {
		st, err := objstore.Open(ctx, mirror)
		if err != nil {
			return nil, nil, fmt.Errorf("mirror: %w", err)
		}
		return BucketMirror{Store: st}, func() { st.Close() }, nil
	}
	if st, err := os.Stat(mirror); err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("mirror %s is not a directory: fix --mirror / DATALAB_MIRROR or unset it to use only the store and origin URLs", mirror)
	}
	return MirrorSource{Dir: mirror}, func() {}, nil
}
