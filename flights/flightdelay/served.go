package flightdelay

import (
	"time"
)

// Served is the flight model one request, or one batch of requests, is
// served with: a scorer and, when it came from the model registry, the
// version it was loaded from.
type Served struct {
	Scorer *Scorer
	// Version is the registry version id (64 hex digits) when the model
	// is served from the model registry (--model registry:flights@…), ""
	// when it was loaded from a directory.
	Version string
	// Alias is the registry alias followed ("champion"), "" for a fixed
	// version or a directory.
	Alias string
	// Since is when this version began serving here (zero for a
	// directory).
	Since time.Time
}

// ModelID is what a prediction names its model by (Prediction.Model): the
// registry version id, else the scorer's name.
func (s Served) ModelID() string {
	if s.Version != "" {
		return s.Version
	}
	return s.Scorer.Name()
}

// Score scores r with the scorer and names the model by ModelID.
func (s Served) Score(r Request) (Prediction, error) {
	p, err := s.Scorer.Score(r)
	if err != nil {
		return Prediction{}, err
	}
	p.Model = s.ModelID()
	return p, nil
}

// Health is what /healthz says about the model serving: "model", what the
// predictions name it by (ModelID; left out when empty), and, from the
// registry, "model_version", "alias" (when one is followed) and "since"
// (RFC 3339).
func (s Served) Health() map[string]any {
	h := map[string]any{}
	if id := s.ModelID(); id != "" {
		h["model"] = id
	}
	if s.Version != "" {
		h["model_version"] = s.Version
		h["since"] = s.Since.UTC().Format(time.RFC3339Nano)
	}
	if s.Alias != "" {
		h["alias"] = s.Alias
	}
	return h
}

// Models yields the model to serve with. Snapshot returns the model
// serving now and holds off any change of model until release is called,
// so that everything done under one snapshot uses one version. Hold a
// snapshot only while scoring — never across I/O — since a swap waits for
// it. A registry follower (registry.Follower) changes the model when its
// alias moves; FixedModel never does.
type Models interface {
	Snapshot() (m Served, release func())
}

// FixedModel serves sc, never changing.
func FixedModel(sc *Scorer) Models { return fixedModel{Served{Scorer: sc}} }

type fixedModel struct{ s Served }

func (f fixedModel) Snapshot() (Served, func()) { return f.s, noRelease }

func noRelease() {}
