// Package image assembles datalab's OCI container images without Docker: a
// static `datalab` binary on an empty base, with CA certificates, a non-root
// user and writable directories, in three flavours that share their layers
// and differ only in the entrypoint (serve, predictor, pipeline).
//
// It sits at the end of the flow: it packages the CLI that runs every other
// stage. Assembly (Assemble) is pure — same Inputs, same bytes, same digests —
// and is kept apart from the impure steps that gather the inputs (BuildBinary
// runs `go build`, SourceTime reads the commit time, HostCACerts reads the
// host's certificate bundle), so tests can assemble from given bytes.
//
// Reproducibility rests on: tar entries sorted with fixed owners, modes and
// modification time (the commit time or SOURCE_DATE_EPOCH, never the clock),
// no user or group names from the host, gzip from the standard library with
// a fixed level, and a config whose `created` is that same time. Two builds
// of one commit with the same Go toolchain and the same CA bundle and shell
// binary therefore give the same digests.
package image

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the images.
const (
	BinaryPath  = "/usr/local/bin/datalab"
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	ShellPath   = "/bin/busybox" // only in the pipeline image; /bin/sh links to it
	HomeDir     = "/home/datalab"
	WorkDir     = "/data" // working directory, owned by the user
	UID, GID    = 65532, 65532
	UserName    = "datalab"
	// ServePort is `datalab serve`'s default --addr port.
	ServePort = 8080
)

// Annotation and label keys (OCI image spec, annotations.md).
const (
	AnnotationRefName  = "org.opencontainers.image.ref.name"
	LabelCreated       = "org.opencontainers.image.created"
	LabelRevision      = "org.opencontainers.image.revision"
	LabelVersion       = "org.opencontainers.image.version"
	LabelSource        = "org.opencontainers.image.source"
	LabelTitle         = "org.opencontainers.image.title"
	LabelDescription   = "org.opencontainers.image.description"
	annotationImageRef = "io.containerd.image.name" // what containerd's import names the image
)

// DefaultSource is the repository URL written into the source label.
const DefaultSource = "https://github.com/datalabhq/datalab"

// Inputs is everything an image set is made of. Assemble reads nothing else.
type Inputs struct {
	// Binary is a statically linked linux `datalab` executable (BuildBinary).
	Binary []byte
	// CACerts is a PEM bundle of trusted CA certificates (HostCACerts).
	CACerts []byte
	// Shell is a statically linked busybox, installed as /bin/sh in the
	// pipeline image only: `datalab run` runs each stage's command with
	// /bin/sh -c. Empty leaves the pipeline image without a shell (it then
	// cannot run stages).
	Shell []byte
	// Version and Commit go into the labels; Version also tags the images.
	Version, Commit string
	// Source is the repository URL label (DefaultSource when empty).
	Source string
	// Created is the image creation time and every file's modification time:
	// the commit time or SOURCE_DATE_EPOCH (SourceTime), never time.Now.
	Created time.Time
	// Arch is the GOARCH the binary was built for ("amd64" when empty).
	Arch string
}

// Flavour is one entrypoint of the image set.
type Flavour struct {
	// Name is the short name: the OCI layout's ref.name and the repository
	// suffix of the docker tag (datalab/<Name>:<version>).
	Name        string
	Description string
	// Args follow /usr/local/bin/datalab in the entrypoint.
	Args []string
	// Env is added to the common environment.
	Env []string
	// Ports are exposed TCP ports.
	Ports []int
	// Shell adds the busybox layer (/bin/sh).
	Shell bool
}

// PredictorPort is where the predictor image serves /healthz and /metrics.
const PredictorPort = 9102

// Flavours are the three images. Their entrypoints use only real flags and
// environment variables of the subcommands (checked by a test against the
// CLI's --help).
var Flavours = []Flavour{
	{
		Name:        "serve",
		Description: "datalab match-winner web app, JSON API and dashboard (datalab serve); mount a trained model at /data/model",
		Args:        []string{"serve"},
		// DATALAB_MODEL is serve's --model; the default model path needs a
		// datalab.yaml the image does not carry.
		Env:   []string{"DATALAB_MODEL=" + WorkDir + "/model", "DATALAB_ADDR=:" + strconv.Itoa(ServePort)},
		Ports: []int{ServePort},
	},
	{
		Name:        "predictor",
		Description: "datalab flight-delay Kafka predictor (datalab predictor); set DATALAB_BROKERS and mount a flight model at /data/flight-model; /healthz and /metrics on :9102",
		Args:        []string{"predictor"},
		// In a container the health/metrics endpoint must listen beyond
		// loopback (the CLI's default) for probes and scrapers.
		Env:   []string{"DATALAB_FLIGHT_MODEL=" + WorkDir + "/flight-model", "DATALAB_PREDICTOR_ADDR=:" + strconv.Itoa(PredictorPort)},
		Ports: []int{PredictorPort},
	},
	{
		Name:        "pipeline",
		Description: "datalab pipeline runner (datalab run); mount a checkout at /data",
		Args:        []string{"run"},
		Shell:       true,
	},
}

// Image is one assembled image of a Set.
type Image struct {
	Flavour Flavour
	Image   v1.Image
	// Tag is the docker tag, e.g. datalab/serve:v1.2.0.
	Tag name.Tag
}

// Set is the assembled image set and the index that lists it.
type Set struct {
	Images []Image
	Index  v1.ImageIndex
}

// Digests are the image set's content addresses.
type Digests struct {
	Index  v1.Hash
	Images map[string]v1.Hash // flavour name → manifest digest
}

// Assemble builds the images from in. It is deterministic: the same Inputs
// give the same digests.
func Assemble(in Inputs) (*Set, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	arch := in.Arch
	if arch == "" {
		arch = "amd64"
	}
	created := in.Created.UTC().Truncate(time.Second)

	base, err := newLayer(created, baseEntries(in.CACerts))
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	bin, err := newLayer(created, binaryEntries(in.Binary))
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	var shell v1.Layer
	if len(in.Shell) > 0 {
		if shell, err = newLayer(created, shellEntries(in.Shell)); err != nil {
			return nil, fmt.Errorf("shell layer: %w", err)
		}
	}
	history := func(what string) v1.History {
		return v1.History{Created: v1.Time{Time: created}, CreatedBy: "datalab image: " + what, Comment: "revision " + in.Commit}
	}
	common := []mutate.Addendum{
		{Layer: base, History: history("base: /etc/passwd, /etc/group, CA certificates, " + HomeDir + ", " + WorkDir + ", /tmp")},
		{Layer: bin, History: history("static datalab binary " + BinaryPath)},
	}

	set := &Set{}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, f := range Flavours {
		adds := common
		if f.Shell && shell != nil {
			adds = append(slices.Clip(common), mutate.Addendum{Layer: shell, History: history("static busybox as /bin/sh for pipeline stages")})
		}
		img, err := flavourImage(in, f, arch, created, adds)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", f.Name, err)
		}
		tag, err := name.NewTag("datalab/" + f.Name + ":" + in.Version)
		if err != nil {
			return nil, err
		}
		set.Images = append(set.Images, Image{Flavour: f, Image: img, Tag: tag})
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "linux", Architecture: arch},
			Annotations: map[string]string{AnnotationRefName: f.Name, annotationImageRef: "docker.io/" + tag.String()},
		}})
	}
	set.Index = idx
	return set, nil
}

func (in Inputs) validate() error {
	switch {
	case len(in.Binary) == 0:
		return fmt.Errorf("no datalab binary given")
	case len(in.CACerts) == 0:
		return fmt.Errorf("no CA certificates given (Debian: apt-get install ca-certificates)")
	case in.Version == "":
		return fmt.Errorf("no version given")
	case in.Commit == "":
		return fmt.Errorf("no commit given")
	case in.Created.IsZero():
		return fmt.Errorf("no creation time given (commit time or SOURCE_DATE_EPOCH)")
	}
	if err := CheckVersion(in.Version); err != nil {
		return err
	}
	if err := checkStatic("datalab binary", in.Binary); err != nil {
		return err
	}
	if len(in.Shell) > 0 {
		return checkStatic("shell", in.Shell)
	}
	return nil
}

// CheckVersion fails unless v can tag the images: letters, digits, '_', '.'
// and '-', not starting with '.' or '-', at most 128 characters.
func CheckVersion(v string) error {
	if _, err := name.NewTag("datalab/serve:" + v); err != nil || v == "" {
		return fmt.Errorf("version %q cannot be an image tag: use letters, digits, '_', '.' and '-' (not first), at most 128 characters", v)
	}
	return nil
}

func flavourImage(in Inputs, f Flavour, arch string, created time.Time, adds []mutate.Addendum) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = arch, "linux"
	cf.Created = v1.Time{Time: created}
	source := in.Source
	if source == "" {
		source = DefaultSource
	}
	path := "/usr/local/bin"
	if f.Shell {
		path += ":/bin"
	}
	cf.Config = v1.Config{
		User:       strconv.Itoa(UID) + ":" + strconv.Itoa(GID),
		WorkingDir: WorkDir,
		Env: append([]string{
			"PATH=" + path,
			"SSL_CERT_FILE=" + CACertsPath,
			"HOME=" + HomeDir,
		}, f.Env...),
		Entrypoint: append([]string{BinaryPath}, f.Args...),
		Labels: map[string]string{
			LabelCreated:     created.Format(time.RFC3339),
			LabelRevision:    in.Commit,
			LabelVersion:     in.Version,
			LabelSource:      source,
			LabelTitle:       "datalab-" + f.Name,
			LabelDescription: f.Description,
		},
		StopSignal: "SIGTERM",
	}
	if len(f.Ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range f.Ports {
			cf.Config.ExposedPorts[strconv.Itoa(p)+"/tcp"] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// Digests returns the index digest and each image's manifest digest.
func (s *Set) Digests() (Digests, error) {
	d := Digests{Images: map[string]v1.Hash{}}
	var err error
	if d.Index, err = s.Index.Digest(); err != nil {
		return d, err
	}
	for _, im := range s.Images {
		if d.Images[im.Flavour.Name], err = im.Image.Digest(); err != nil {
			return d, err
		}
	}
	return d, nil
}

// Names are the flavour names of d in a stable order.
func (d Digests) Names() []string { return slices.Sorted(maps.Keys(d.Images)) }
