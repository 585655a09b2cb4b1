package image_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/datalabhq/datalab/ops/image"
)

// TestOrigin: the creation time is the commit time unless SOURCE_DATE_EPOCH
// is set; the default version is a tag on the commit; outside a checkout a
// full commit id and SOURCE_DATE_EPOCH suffice.
func TestOrigin(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if _, err := wt.Add("f"); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 10, 2, 3, 4, 5, 0, time.FixedZone("CEST", 2*3600))
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: when}
	h, err := wt.Commit("one", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}

	r, created, err := image.Origin(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Commit != h.String() || !created.Equal(when) || created.Location() != time.UTC || r.Tag != "" {
		t.Errorf("origin %+v created %v, want %s at %v", r, created, h, when)
	}
	if v := r.DefaultVersion(); v != "git-"+h.String()[:12] {
		t.Errorf("untagged version %q", v)
	}

	if _, err := repo.CreateTag("v0.1.0", h, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("v0.2.0", h, &git.CreateTagOptions{Tagger: sig, Message: "annotated"}); err != nil {
		t.Fatal(err)
	}
	if r, _, _ = image.Origin(dir, "HEAD", ""); r.DefaultVersion() != "v0.2.0" {
		t.Errorf("tagged version %q, want the greatest tag v0.2.0", r.DefaultVersion())
	}

	_, created, err = image.Origin(dir, h.String(), "1700000000")
	if err != nil || !created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("with SOURCE_DATE_EPOCH: %v, %v", created, err)
	}

	outside := t.TempDir()
	if _, _, err := image.Origin(outside, "", ""); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("outside a checkout without epoch: %v", err)
	}
	r, created, err = image.Origin(outside, strings.ToUpper(h.String()), "1700000000")
	if err != nil || r.Commit != h.String() || !created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("outside a checkout with commit and epoch: %+v %v %v", r, created, err)
	}
	if _, _, err := image.Origin(dir, "nosuchbranch", ""); err == nil {
		t.Error("unknown revision accepted")
	}
}
