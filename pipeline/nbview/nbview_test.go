package nbview_test

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/go-gota/gota/dataframe"
	"gonum.org/v1/plot/vg"

	"github.com/datalabhq/datalab/pipeline/nbview"
)

func TestMetricsRoundTrip(t *testing.T) {
	page := "<p>" + nbview.Metric("matches.form.holdout.accuracy", 0.7057793345008757, "%.4f") +
		"</p><td>" + nbview.Metric(`a<b&"c"`, 1e-9, "%g") + "</td>"
	if !strings.Contains(page, ">0.7058<") {
		t.Errorf("formatted value missing: %s", page)
	}
	got, err := nbview.Metrics([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["matches.form.holdout.accuracy"] != 0.7057793345008757 || got[`a<b&"c"`] != 1e-9 {
		t.Errorf("Metrics = %v", got)
	}
	// The same key with two values is an error, not a silent overwrite.
	_, err = nbview.Metrics([]byte(nbview.Metric("k", 1, "%v") + nbview.Metric("k", 2, "%v")))
	if err == nil || !strings.Contains(err.Error(), "two values") {
		t.Errorf("err = %v, want a two-values error", err)
	}
}

func TestRowsEscapesAndTable(t *testing.T) {
	h := nbview.Rows([]string{"team"}, [][]string{{"<script>"}})
	if strings.Contains(h, "<script>") || !strings.Contains(h, "&lt;script&gt;") {
		t.Errorf("Rows does not escape cells: %s", h)
	}
	df := dataframe.LoadRecords([][]string{{"name", "x"}, {"a", "0.123456789"}, {"b", "2.5"}})
	h = nbview.Table(df)
	for _, want := range []string{"<th>name</th>", "<td>0.1235</td>", "<td>2.5</td>"} {
		if !strings.Contains(h, want) {
			t.Errorf("Table lacks %q: %s", want, h)
		}
	}
}

func TestPNGIsDeterministicImage(t *testing.T) {
	render := func(v float64) []byte {
		p, err := nbview.GroupedBars("t", "y", []string{"a", "b"},
			nbview.Group{Name: "g1", Values: []float64{1, v}}, nbview.Group{Name: "g2", Values: []float64{2, 3}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := nbview.PNG(p, 4*vg.Inch, 2*vg.Inch)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := render(2), render(2)
	if !bytes.Equal(a, b) {
		t.Error("the same plot rendered to different PNG bytes")
	}
	if bytes.Equal(a, render(2.5)) {
		t.Error("different data rendered to the same PNG")
	}
	img, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if w := img.Bounds().Dx(); w != 4*nbview.DPI {
		t.Errorf("width %d px, want %d", w, 4*nbview.DPI)
	}
	if _, err := nbview.GroupedBars("t", "y", []string{"a"}, nbview.Group{Name: "g", Values: []float64{1, 2}}); err == nil {
		t.Error("GroupedBars accepted 2 values for 1 label")
	}
}

func TestParams(t *testing.T) {
	t.Setenv("DATALAB_NB_SAMPLE", "500")
	if n, err := nbview.IntParam("sample", 10); err != nil || n != 500 {
		t.Errorf("IntParam = %d, %v", n, err)
	}
	if n, err := nbview.IntParam("unset_key", 10); err != nil || n != 10 {
		t.Errorf("IntParam default = %d, %v", n, err)
	}
	t.Setenv("DATALAB_NB_SAMPLE", "many")
	if _, err := nbview.IntParam("sample", 10); err == nil || !strings.Contains(err.Error(), "DATALAB_NB_SAMPLE") {
		t.Errorf("err = %v, want one naming DATALAB_NB_SAMPLE", err)
	}
	if got := nbview.Param("variant", "form"); got != "form" {
		t.Errorf("Param default = %q", got)
	}
}
