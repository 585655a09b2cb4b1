package rundiff

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

func TestList(t *testing.T) {
	runs := []*stagerun.RunRecord{headRecord(), baseRecord()}
	runs[0].Stages = append(runs[0].Stages, stagerun.StageRecord{Name: "report-flights", Status: "cached", Key: "k-rf"})
	tab := List(runs, 0)
	if !reflect.DeepEqual(tab.Metrics, []string{"flights.variants.bts.holdout.accuracy", "matches.served.holdout.accuracy"}) {
		t.Errorf("metric columns: %v", tab.Metrics)
	}
	r := tab.Rows[0]
	if r.ID != headRecord().ID || r.Ran != 3 || r.Cached != 1 || r.Skipped != 1 || r.Metrics["matches.served.holdout.accuracy"] != 0.5469 {
		t.Errorf("row: %+v", r)
	}
	if got := List(runs, 1); len(got.Rows) != 1 {
		t.Errorf("--limit 1: %d rows", len(got.Rows))
	}
	checkGolden(t, "list.txt", tab.Text())
	data, err := tab.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back ListTable
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back.Metrics, tab.Metrics) || len(back.Rows) != 2 {
		t.Errorf("JSON: %v %+v", err, back)
	}
	if empty := List(nil, 0); !bytes.Contains(empty.Text(), []byte("no runs recorded yet")) {
		t.Errorf("empty list: %s", empty.Text())
	}
	if data, _ := List(nil, 0).JSON(); !bytes.Contains(data, []byte(`"runs": []`)) {
		t.Errorf("empty list JSON must hold an empty array: %s", data)
	}
}

func TestShow(t *testing.T) {
	r := headRecord()
	r.Stages[1].Attempts = []stagerun.Attempt{{N: 1}, {N: 2, Error: "exit status 1"}}
	r.Stages[1].Reasons = []string{"params changed: matches.forests.default.max_depth"}
	r.Stages[1].Log = "runs/" + r.ID + "/train-matches.log"
	out := Show(r)
	checkGolden(t, "show.txt", out)
	for _, want := range []string{"* flights.variants ", "* matches.forests.default.max_depth  12", "(experiment max_depth-12)", "2222222222222"[:12] + "+dirty on deeper-trees"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("show lacks %q", want)
		}
	}
	if bytes.Contains(out, []byte("map[")) {
		t.Errorf("show prints Go map syntax")
	}
}
