package datasets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/objstore"
	"github.com/datalabhq/datalab/pipeline/objstore/objstoretest"
)

// TestPullFromBucketMirror pulls a set from a mirror kept in S3 (gofakes3
// over HTTP), at the mirror paths under a prefix given in the URL's path;
// an object with other bytes is refused with the mirror named.
func TestPullFromBucketMirror(t *testing.T) {
	ctx := context.Background()
	c, store := openClone(t)
	s := mustSet(t, c, "worldcup2022")
	local := smallMirror(t, s)
	fake := objstoretest.NewS3(t, "lab")
	url := strings.Replace(fake.URL(), "s3://lab?", "s3://lab/mirror?", 1)
	bucket, err := objstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	for _, f := range s.Files {
		if _, _, err := bucket.Upload(ctx, f.Mirror, filepath.Join(local, filepath.FromSlash(f.Mirror))); err != nil {
			t.Fatal(err)
		}
	}

	res, err := c.Pull(ctx, []string{"worldcup2022"}, PullOptions{Store: store, Mirror: url, NoOrigin: true})
	if err != nil || res.Count(FromMirror) != len(s.Files) {
		t.Fatalf("pull from bucket mirror: %+v, %v", res, err)
	}
	for _, f := range s.Files {
		if got, err := HashFile(s.WorkingPath(f)); err != nil || got != f.Pointer {
			t.Errorf("%s: %v %v", f.Path, got, err)
		}
	}

	// Other bytes under a mirror key: refused, naming the key and bucket.
	c2, store2 := openClone(t)
	s2 := mustSet(t, c2, "worldcup2022")
	f, _ := s2.File("2022_world_cup_matches.csv")
	b, _ := os.ReadFile(filepath.Join(local, filepath.FromSlash(f.Mirror)))
	b[100] ^= 1
	fake.Replace(t, "mirror/"+f.Mirror, b)
	_, err = c2.Pull(ctx, []string{"worldcup2022"}, PullOptions{Store: store2, Mirror: url, NoOrigin: true})
	var mm *MismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "mirror copy "+f.Mirror+" in s3://lab/mirror") {
		t.Fatalf("tampered bucket mirror: %v", err)
	}

	// A key the bucket does not hold is "not found" for that file only.
	fake.Delete(t, "mirror/"+f.Mirror)
	_, err = c2.Pull(ctx, []string{"worldcup2022"}, PullOptions{Store: store2, Mirror: url, NoOrigin: true})
	var pe *PullError
	if !errors.As(err, &pe) || len(pe.Failures) != 1 || !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing mirror object: %v", err)
	}
}
