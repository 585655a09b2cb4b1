package realengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is go-containerregistry's registry on loopback. Blobs are kept
// on disk (so a second start uploads only manifests); manifests live in
// memory and are pushed at every start.
type Registry struct {
	Addr string // host:port on 127.0.0.1
	srv  *http.Server
}

// DefaultRegistryAddr is where the registry listens unless it is taken.
// The same address every run keeps the image reference the functions get
// (--go-image) the same, and with it the engine's cache of everything
// built on it: a new port is a new reference, and the engine runs every
// command again (80 s instead of 1 s for an unchanged `dagger call run`).
const DefaultRegistryAddr = "127.0.0.1:41599"

// StartRegistry serves a registry on addr (DefaultRegistryAddr when empty,
// or a free port if that is taken) with blobs under blobDir.
func StartRegistry(addr, blobDir string, logw io.Writer) (*Registry, error) {
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return nil, err
	}
	var ln net.Listener
	var err error
	if addr == "" {
		if ln, err = net.Listen("tcp", DefaultRegistryAddr); err != nil {
			fmt.Fprintf(logw, "registry: %s is taken (%v); a free port instead, so the engine's cache of the last runs will not match\n", DefaultRegistryAddr, err)
			addr = "127.0.0.1:0"
		}
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, err
		}
	}
	h := registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(blobDir)), registry.Logger(log.New(logw, "registry: ", 0)))
	r := &Registry{Addr: ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(logw, "registry: %v\n", err)
		}
	}()
	return r, nil
}

// Push uploads the image of an OCI layout's index entry (the only one, or
// the one whose ref.name annotation is ref) as repo:tag.
func (r *Registry) Push(ctx context.Context, layoutDir, repoTag string) (v1.Hash, error) {
	p, err := layout.FromPath(layoutDir)
	if err != nil {
		return v1.Hash{}, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return v1.Hash{}, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	if len(m.Manifests) == 0 {
		return v1.Hash{}, fmt.Errorf("%s: empty OCI layout", layoutDir)
	}
	d := m.Manifests[len(m.Manifests)-1].Digest
	img, err := p.Image(d)
	if err != nil {
		return v1.Hash{}, err
	}
	ref, err := name.NewTag(r.Addr+"/"+repoTag, name.Insecure)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	return d, nil
}

// Close stops the registry.
func (r *Registry) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}
