package matchmodel_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/matches/matchmodel"
)

// FuzzParseManifest: ParseManifest never panics, names the file in its
// errors, and what it accepts survives a write and a re-read unchanged (a
// manifest that Save wrote back would say something else is a defect).
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schema":"datalab.matchmodel/v1","variant":{"name":"elo","description":"Elo only","classes":["home_win","not_home_win"],"inputs":[]},` +
		`"columns":["elo_diff"],"classes":["not_home_win","home_win"],"labels":{"tournament":["Friendly"]},"forest":{},"spark_params":{"numTrees":"50"},` +
		`"train_rows":100,"train_from":"1993-08-08","train_to":"2021-12-31","data_last_date":"2022-06-14","world_cup_teams":["Qatar"],` +
		`"importances":[{"index":0,"name":"elo_diff","importance":1}],"version":"abc"}`))
	f.Add([]byte(`{"schema":"datalab.matchmodel/v0"}`))
	f.Add([]byte(`{"schema":"datalab.matchmodel/v1","train_from":"2022-02-30"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := matchmodel.ParseManifest(data, "m/manifest.json")
		if err != nil {
			if !strings.Contains(err.Error(), "m/manifest.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("accepted manifest does not marshal: %v", err)
		}
		again, err := matchmodel.ParseManifest(b, "again")
		if err != nil {
			t.Fatalf("re-reading %s: %v", b, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, again)
		}
	})
}
