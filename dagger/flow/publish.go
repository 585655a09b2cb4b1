package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"dagger.io/dagger"
)

// Where `datalab image` writes (its defaults: ops/image.DefaultOutDir,
// LayoutDir, DockerTarball), relative to /src.
const (
	ImagesDir     = "build/images"
	imageIndex    = "oci/index.json"
	dockerTarball = "datalab-images.tar"
)

// ImagePackages are the Debian packages `datalab image` copies files from
// into the images besides the CA bundle the Go image already has:
// busybox-static is the pipeline image's /bin/sh (ops/image.HostShellFile).
var ImagePackages = []string{"busybox-static"}

// Image builds the datalab images with `datalab image` (OCI layout in oci/,
// docker tarball datalab-images.tar) and returns build/images. version, if
// not empty, is the images' tag and version label; otherwise datalab image
// derives one from the commit, which needs the repository's .git in src.
func (l *Lab) Image(ctx context.Context, version string) (*dagger.Directory, error) {
	cmd := []string{"datalab", "image", "--out", ImagesDir}
	if version != "" {
		cmd = append(cmd, "--version", version)
	}
	ctr, err := run(ctx, "image", l.CLI(),
		[]string{"apt-get", "update", "-qq"},
		append([]string{"apt-get", "install", "-y", "-qq", "--no-install-recommends"}, ImagePackages...),
		cmd)
	if err != nil {
		return nil, err
	}
	return output(ctx, "image", ctr, ImagesDir)
}

// Publish builds the images (as Image does) and pushes each one to
// registry/datalab-<name>:<tag>, e.g. ghcr.io/me/datalab-serve:v1.2.0, with
// username and password as the registry's credentials. The password stays a
// secret: it is handed to the engine by ID and never read here. It returns
// the published references, each with its digest.
func (l *Lab) Publish(ctx context.Context, registry, username string, password *dagger.Secret, version string) ([]string, error) {
	registry = strings.TrimSuffix(registry, "/")
	if registry == "" || username == "" || password == nil {
		return nil, fmt.Errorf("publish: want a registry (e.g. ghcr.io/me), a username and a password secret")
	}
	images, err := l.Image(ctx, version)
	if err != nil {
		return nil, err
	}
	index, err := images.File(imageIndex).Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("publish: read %s: %w", path.Join(ImagesDir, imageIndex), err)
	}
	built, err := BuiltImages([]byte(index))
	if err != nil {
		return nil, fmt.Errorf("publish: %s: %w", path.Join(ImagesDir, imageIndex), err)
	}
	var refs []string
	for _, im := range built {
		ref := registry + "/datalab-" + im.Name + ":" + im.Tag
		published, err := l.client.Container().
			Import(images.File(dockerTarball), dagger.ContainerImportOpts{Tag: im.Ref}).
			WithRegistryAuth(RegistryHost(registry), username, password).
			Publish(ctx, ref)
		if err != nil {
			return refs, failed("publish "+ref, err)
		}
		refs = append(refs, published)
	}
	return refs, nil
}

// BuiltImage is one image of `datalab image`'s output.
type BuiltImage struct {
	Name string // serve, predictor, pipeline: org.opencontainers.image.ref.name
	Ref  string // the name the docker tarball gives it, e.g. docker.io/datalab/serve:v1.2.0
	Tag  string // the tag of Ref
}

// BuiltImages lists the images of an OCI layout's index.json as `datalab
// image` writes it: each manifest names its image (ref.name) and the name
// containerd's import gives it (io.containerd.image.name), which is what
// Container.import's tag selects in the docker tarball.
func BuiltImages(indexJSON []byte) ([]BuiltImage, error) {
	var index struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(indexJSON, &index); err != nil {
		return nil, err
	}
	var out []BuiltImage
	for i, m := range index.Manifests {
		name, ref := m.Annotations["org.opencontainers.image.ref.name"], m.Annotations["io.containerd.image.name"]
		slash := strings.LastIndex(ref, "/")
		colon := strings.LastIndex(ref, ":")
		if name == "" || colon <= slash {
			return nil, fmt.Errorf("manifest %d: want annotations org.opencontainers.image.ref.name and io.containerd.image.name (name:tag), got %v", i, m.Annotations)
		}
		out = append(out, BuiltImage{Name: name, Ref: ref, Tag: ref[colon+1:]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no images in the index")
	}
	return out, nil
}

// RegistryHost is the registry part of a repository prefix, the address
// credentials are for: ghcr.io/me → ghcr.io, localhost:5000/x → localhost:5000,
// and a Docker Hub namespace (me) → docker.io, as docker resolves names.
func RegistryHost(registry string) string {
	first, _, _ := strings.Cut(registry, "/")
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return first
	}
	return "docker.io"
}
