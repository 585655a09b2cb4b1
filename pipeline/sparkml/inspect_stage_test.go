package sparkml

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInspectSeedStages: `datalab model inspect` on each stage directory of
// the seed's Spark models (2.4.0, 3.3.3, 3.5.3) describes the stage — the
// StringIndexer's labels and handleInvalid, the Bucketizer's splits, the
// assembler's inputs — instead of failing with "neither a PipelineModel nor
// a RandomForestClassificationModel".
func TestInspectSeedStages(t *testing.T) {
	for _, v := range []string{"2.4.0", "3.3.3", "3.5.3"} {
		root := fixture(t, "flight-delay-spark-"+v)
		for _, tt := range []struct {
			dir   string
			class string
			want  []string // substrings of the text output
		}{
			{"string_indexer_model_Route.bin", ClassStringIndexer, []string{"StringIndexerModel", "Route", "handleInvalid", "labels", "ATL-"}},
			{"string_indexer_model_Carrier.bin", ClassStringIndexer, []string{"Carrier", "labels", "AA"}},
			{"arrival_bucketizer_2.0.bin", ClassBucketizer, []string{"Bucketizer", "ArrDelay", "splits", "-Inf", "[-15.0, 0.0)"}},
			{"numeric_vector_assembler.bin", ClassVectorAssemble, []string{"VectorAssembler", "DepDelay", "Distance"}},
			{"spark_random_forest_classifier.flight_delays.5.0.bin", ClassRandomForest, []string{"RandomForestClassificationModel", "trees"}},
		} {
			t.Run(v+"/"+tt.dir, func(t *testing.T) {
				in, err := Inspect(filepath.Join(root, tt.dir))
				if err != nil {
					t.Fatal(err)
				}
				var text bytes.Buffer
				if err := in.WriteText(&text); err != nil {
					t.Fatal(err)
				}
				for _, w := range tt.want {
					if !strings.Contains(text.String(), w) {
						t.Errorf("text output lacks %q:\n%s", w, text.String())
					}
				}
				b, err := json.Marshal(in)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), tt.class) {
					t.Errorf("JSON lacks the class %s: %.300s", tt.class, b)
				}
				if tt.class != ClassRandomForest {
					if in.Stage == nil || in.Stage.SparkVersion != v {
						t.Fatalf("Stage = %+v, want a stage written by Spark %s", in.Stage, v)
					}
				}
			})
		}
	}
}

// TestInspectGoWrittenStages: every stage directory SavePipeline writes is
// described on its own, with the values the stage holds; the whole
// directory is still described as a pipeline.
func TestInspectGoWrittenStages(t *testing.T) {
	for _, v := range []string{"3.3.3", "3.5.3"} {
		dir := filepath.Join(t.TempDir(), "model")
		if err := SavePipeline(dir, handBuiltPipeline(), WithTimestamp(1700000000000), WithSparkVersion(v)); err != nil {
			t.Fatal(err)
		}
		whole, err := Inspect(dir)
		if err != nil || whole.Pipeline == nil || whole.Stage != nil {
			t.Fatalf("Spark %s: Inspect(pipeline) = %+v, %v; want a pipeline summary", v, whole, err)
		}
		stages, err := filepath.Glob(filepath.Join(dir, "stages", "*"))
		if err != nil || len(stages) != 4 {
			t.Fatalf("stage dirs %v (%v), want 4", stages, err)
		}
		seen := map[string]bool{}
		for _, sd := range stages {
			in, err := Inspect(sd)
			if err != nil {
				t.Fatalf("Spark %s: %s: %v", v, sd, err)
			}
			if in.Stage == nil {
				if in.Pipeline == nil || in.Pipeline.Classifier.NumTrees != 2 {
					t.Fatalf("%s: %+v, want the 2-tree forest", sd, in)
				}
				seen["forest"] = true
				continue
			}
			st := in.Stage
			if st.SparkVersion != v || st.Timestamp != 1700000000000 || !st.Applied {
				t.Errorf("%s: version %s timestamp %d applied %v", sd, st.SparkVersion, st.Timestamp, st.Applied)
			}
			switch st.Class {
			case ClassStringIndexer:
				if fmt.Sprint(st.Labels) != "[[red green blue grey]]" || !hasParam(st.Params, "handleInvalid", "keep") {
					t.Errorf("StringIndexer: labels %v params %v", st.Labels, st.Params)
				}
			case ClassVectorAssemble:
				if fmt.Sprint(st.Inputs) != "[size colour_index]" || fmt.Sprint(st.Outputs) != "[features]" {
					t.Errorf("VectorAssembler: %v → %v", st.Inputs, st.Outputs)
				}
			case ClassBucketizer:
				if fmt.Sprint(st.Buckets) != "[[-Inf, 0.0) [0.0, 10.0) [10.0, Inf]]" {
					t.Errorf("Bucketizer buckets %q", st.Buckets)
				}
			}
			seen[st.Class] = true
		}
		if len(seen) != 4 {
			t.Errorf("Spark %s: described %v, want the forest and 3 stage classes", v, seen)
		}
	}
}

func hasParam(ps []Param, name string, v any) bool {
	for _, p := range ps {
		if p.Name == name && fmt.Sprint(p.Value) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}

// TestInspectUnappliedStage: a stage class datalab does not apply (here a
// Spark 3 OneHotEncoderModel) is described from its metadata rather than
// refused; a corrupt stage still fails loudly.
func TestInspectUnappliedStage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ohe")
	md := `{"class":"org.apache.spark.ml.feature.OneHotEncoderModel","timestamp":1700000000000,"sparkVersion":"3.5.3","uid":"OneHotEncoder_1a2b3c4d5e6f",` +
		`"paramMap":{"inputCols":["Carrier_index"],"outputCols":["Carrier_vec"],"dropLast":true,"handleInvalid":"keep"},"defaultParamMap":{"dropLast":true,"handleInvalid":"error"}}`
	if err := os.MkdirAll(filepath.Join(dir, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "metadata", "part-00000"), []byte(md+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := in.Stage
	if st == nil || st.Applied || fmt.Sprint(st.Inputs) != "[Carrier_index]" || fmt.Sprint(st.Outputs) != "[Carrier_vec]" || !hasParam(st.Params, "dropLast", true) {
		t.Fatalf("got %+v", st)
	}
	var text bytes.Buffer
	if err := in.WriteText(&text); err != nil || !strings.Contains(text.String(), "does not apply it") {
		t.Errorf("text %q (%v) should say datalab does not apply this class", text.String(), err)
	}

	// A StringIndexerModel without its data/ is an error, not a description.
	bad := filepath.Join(t.TempDir(), "si")
	os.MkdirAll(filepath.Join(bad, "metadata"), 0o755)
	os.WriteFile(filepath.Join(bad, "metadata", "part-00000"), []byte(strings.ReplaceAll(strings.ReplaceAll(md, "OneHotEncoderModel", "StringIndexerModel"), "OneHotEncoder_", "StringIndexer_")+"\n"), 0o644)
	if _, err := Inspect(bad); err == nil {
		t.Error("Inspect of a StringIndexerModel without data/ succeeded")
	}
}
