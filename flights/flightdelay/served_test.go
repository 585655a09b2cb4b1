package flightdelay_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flighttest"
)

// TestServedNamesItsModel: a model from a directory names predictions and
// /healthz by the scorer's name; one from the registry by its version id,
// with the alias and since on /healthz; the scores are the scorer's.
func TestServedNamesItsModel(t *testing.T) {
	sc, _ := flighttest.Fixtures(t)
	req, err := fixedEnricher(t).Enrich(flightdelay.DefaultForm)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sc.Score(req)
	if err != nil {
		t.Fatal(err)
	}

	fixed, release := flightdelay.FixedModel(sc).Snapshot()
	release()
	p, err := fixed.Score(req)
	if err != nil || p.Model != sc.Name() || p.Model != want.Model || !slices.Equal(p.Probability, want.Probability) {
		t.Errorf("directory model: %+v %v", p, err)
	}
	if h := fixed.Health(); len(h) != 1 || h["model"] != sc.Name() {
		t.Errorf("directory model /healthz fields %v", h)
	}

	version := strings.Repeat("0123456789abcdef", 4)
	since := time.Date(2026, 11, 23, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	reg := flightdelay.Served{Scorer: sc, Version: version, Alias: "champion", Since: since}
	p, err = reg.Score(req)
	if err != nil || p.Model != version || !slices.Equal(p.Probability, want.Probability) {
		t.Errorf("registry model: %+v %v", p, err)
	}
	wantHealth := map[string]any{"model": version, "model_version": version, "alias": "champion", "since": "2026-11-23T11:00:00Z"}
	if h := reg.Health(); !maps.Equal(h, wantHealth) {
		t.Errorf("registry model /healthz fields %v, want %v", h, wantHealth)
	}
	reg.Alias = ""
	if h := reg.Health(); h["alias"] != nil || h["model_version"] != version {
		t.Errorf("fixed registry version /healthz fields %v", h)
	}
}
