package image

import (
	"archive/tar"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// Names of the outputs inside the output directory.
const (
	LayoutDir     = "oci"                // OCI image layout with the three images
	DockerTarball = "datalab-images.tar" // `docker load -i` archive
	DefaultOutDir = "build/images"
)

// Write writes the set into dir as an OCI image layout (dir/oci) and a
// `docker load` tarball (dir/datalab-images.tar). Everything is written into a
// temporary directory beside dir and renamed into place, so dir holds either
// the previous complete output or the new one.
func (s *Set) Write(dir string) error {
	tmp, err := atomicfile.TempDirBeside(dir, "tmp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := s.WriteLayout(filepath.Join(tmp, LayoutDir)); err != nil {
		return err
	}
	if err := s.WriteDockerTarball(filepath.Join(tmp, DockerTarball)); err != nil {
		return err
	}
	if err := atomicfile.ReplaceDir(tmp, dir); err != nil {
		return fmt.Errorf("write images: %w", err)
	}
	return nil
}

// WriteLayout writes the OCI image layout: oci-layout, index.json (the set's
// index; each entry annotated with org.opencontainers.image.ref.name =
// serve, predictor or pipeline) and blobs/sha256/….
func (s *Set) WriteLayout(dir string) error {
	if _, err := layout.Write(dir, s.Index); err != nil {
		return fmt.Errorf("write OCI layout %s: %w", dir, err)
	}
	return nil
}

// WriteDockerTarball writes the images as one `docker load` archive tagged
// datalab/<flavour>:<version>. go-containerregistry writes the archive's
// entries in map order; they are rewritten sorted (blobs by name,
// manifest.json last) so that the archive's own bytes are reproducible too.
func (s *Set) WriteDockerTarball(path string) error {
	refs := map[name.Reference]v1.Image{}
	for _, im := range s.Images {
		refs[im.Tag] = im.Image
	}
	var raw bytes.Buffer
	if err := tarball.MultiRefWrite(refs, &raw); err != nil {
		return fmt.Errorf("write docker tarball: %w", err)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return sortTar(&raw, w) })
}

// sortTar copies a tar of regular files from r to w with its entries sorted
// by name and manifest.json last, keeping each header.
func sortTar(r io.Reader, w io.Writer) error {
	type member struct {
		h    *tar.Header
		body []byte
	}
	var ms []member
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		ms = append(ms, member{h, body})
	}
	last := func(n string) bool { return n == "manifest.json" }
	slices.SortFunc(ms, func(a, b member) int {
		if c := cmp.Compare(boolInt(last(a.h.Name)), boolInt(last(b.h.Name))); c != 0 {
			return c
		}
		return cmp.Compare(a.h.Name, b.h.Name)
	})
	tw := tar.NewWriter(w)
	for _, m := range ms {
		if err := tw.WriteHeader(m.h); err != nil {
			return err
		}
		if _, err := tw.Write(m.body); err != nil {
			return err
		}
	}
	return tw.Close()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
