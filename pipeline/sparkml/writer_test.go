package sparkml

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/forest"
	"github.com/parquet-go/parquet-go/format"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// flightPipeline builds the course's pipeline shape in Go (4 indexers, the
// 9-input assembler, the ArrDelay bucketizer) and trains a small forest on
// synthetic rows run through it.
func flightPipeline(t testing.TB) *Pipeline {
	t.Helper()
	carriers := []string{"WN", "DL", "AA"}
	airports := []string{"ATL", "ORD", "SFO", "JFK"}
	var routes []string
	for _, o := range airports {
		for _, d := range airports {
			if o != d {
				routes = append(routes, o+"-"+d)
			}
		}
	}
	stages := []Stage{
		NewStringIndexer("Carrier", "Carrier_index", carriers, "error"),
		NewStringIndexer("Origin", "Origin_index", airports, "error"),
		NewStringIndexer("Dest", "Dest_index", airports, "keep"),
		NewStringIndexer("Route", "Route_index", routes, "error"),
		NewVectorAssembler([]string{"DepDelay", "Distance", "DayOfMonth", "DayOfWeek", "DayOfYear",
			"Carrier_index", "Origin_index", "Dest_index", "Route_index"}, "Features_vec", "error"),
	}
	label := NewBucketizer("ArrDelay", "ArrDelayBucket", []float64{math.Inf(-1), -15, 0, 30, math.Inf(1)}, "error")
	p := NewPipeline(stages, label, nil)
	p.Derive = []Derivation{{Output: "Route", Inputs: []string{"Origin", "Dest"}, Sep: "-"}}

	rng := rand.New(rand.NewPCG(1, 2))
	const n = 600
	cols := make([][]float64, 9)
	labels := make([]float64, n)
	for i := range n {
		o := airports[rng.IntN(len(airports))]
		d := airports[(slices.Index(airports, o)+1+rng.IntN(len(airports)-1))%len(airports)]
		dep := rng.NormFloat64()*25 + 5
		carrier := carriers[rng.IntN(len(carriers))]
		arr := dep + rng.NormFloat64()*10
		if carrier == "WN" {
			arr -= 12
		}
		row := map[string]any{"Carrier": carrier, "Origin": o, "Dest": d,
			"DepDelay": dep, "Distance": float64(300 + rng.IntN(2500)), "DayOfMonth": float64(1 + rng.IntN(31)),
			"DayOfWeek": float64(1 + rng.IntN(7)), "DayOfYear": float64(1 + rng.IntN(365))}
		x, err := p.Transform(row)
		if err != nil {
			t.Fatal(err)
		}
		for f := range x {
			cols[f] = append(cols[f], x[f])
		}
		if labels[i], err = label.Bucket(arr); err != nil {
			t.Fatal(err)
		}
	}
	params := forest.DefaultParams()
	params.NumTrees = 6
	params.MaxDepth = 4
	params.CategoricalFeatures = p.CategoricalFeatures()
	m, err := forest.Fit(context.Background(), cols, labels, params, forest.WithNumClasses(4))
	if err != nil {
		t.Fatal(err)
	}
	p.Model = m
	return p
}

func TestRoundTripGoTrained(t *testing.T) {
	p := flightPipeline(t)
	hasCategorical := false
	for _, tr := range p.Model.Trees {
		for _, n := range tr.Nodes {
			hasCategorical = hasCategorical || (!n.IsLeaf() && n.NumCategories >= 0)
		}
	}
	if !hasCategorical {
		t.Fatal("the synthetic forest has no categorical split; the round trip would not cover them")
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := SavePipeline(dir, p, WithTimestamp(1700000000000)); err != nil {
		t.Fatal(err)
	}
	q, err := LoadPipeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	if q.Source.Layout != "PipelineModel" {
		t.Errorf("layout = %s", q.Source.Layout)
	}
	q.Source = nil
	q.Derive = p.Derive // derivations are not part of Spark's format
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip changed the pipeline:\nwrote %+v\nread  %+v", p.Model.Params, q.Model.Params)
	}

	// Same pipeline, same timestamp: identical bytes.
	dir2 := filepath.Join(t.TempDir(), "model")
	if err := SavePipeline(dir2, p, WithTimestamp(1700000000000)); err != nil {
		t.Fatal(err)
	}
	a, b := testtree.Read(t, dir), testtree.Read(t, dir2)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("saving the same pipeline twice gave different files")
	}
	// Saving over an existing directory replaces it.
	if err := SavePipeline(dir, p, WithTimestamp(1700000000001)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPipeline(dir); err != nil {
		t.Fatal(err)
	}
}

var uuidPart = regexp.MustCompile(`part-(\d{5})-[0-9a-f-]{36}-c000`)

// layout lists a stage directory's files with part-file uuids blanked.
func layout(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for rel := range testtree.Read(t, dir) {
		out = append(out, uuidPart.ReplaceAllString(rel, "part-$1-UUID-c000"))
	}
	sort.Strings(out)
	return out
}

// TestWriterMatchesSparkFixture compares what SavePipeline writes with the
// Spark 3.3.3 fixture, stage by stage: directory layout, metadata JSON key
// sets, Parquet schema elements (names, physical and logical types,
// repetition, list structure), compression and Spark's key-value metadata
// (the row StructType JSON must be identical).
func TestWriterMatchesSparkFixture(t *testing.T) {
	fix := fixture(t, "flight-delay-spark-3.3.3")
	p := flightPipeline(t)
	dir := filepath.Join(t.TempDir(), "model")
	if err := SavePipeline(dir, p, WithTimestamp(1700000000000)); err != nil {
		t.Fatal(err)
	}
	written := map[string]string{} // class → stage dir
	entries, err := os.ReadDir(filepath.Join(dir, "stages"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 7 {
		t.Fatalf("%d stage directories, want 7 (label, 5 feature stages, classifier)", len(entries))
	}
	for i, e := range entries {
		if !strings.HasPrefix(e.Name(), fmt.Sprintf("%d_", i)) {
			t.Errorf("stage dir %s does not start with its index %d", e.Name(), i)
		}
		md, err := ReadMetadata(filepath.Join(dir, "stages", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		written[md.Class] = filepath.Join(dir, "stages", e.Name())
	}
	pairs := []struct{ class, fixtureStage string }{
		{ClassRandomForest, "spark_random_forest_classifier.flight_delays.5.0.bin"},
		{ClassStringIndexer, "string_indexer_model_Carrier.bin"},
		{ClassVectorAssemble, "numeric_vector_assembler.bin"},
		{ClassBucketizer, "arrival_bucketizer_2.0.bin"},
	}
	for _, pair := range pairs {
		ours, theirs := written[pair.class], filepath.Join(fix, pair.fixtureStage)
		t.Run(pair.class[strings.LastIndex(pair.class, ".")+1:], func(t *testing.T) {
			if a, b := layout(t, ours), layout(t, theirs); !reflect.DeepEqual(a, b) {
				t.Errorf("layout\n ours  %v\n spark %v", a, b)
			}
			compareMetadataKeys(t, ours, theirs)
			for _, sub := range []string{"data", "treesMetadata"} {
				if _, err := os.Stat(filepath.Join(theirs, sub)); err != nil {
					continue
				}
				compareParquet(t, firstPart(t, filepath.Join(ours, sub)), firstPart(t, filepath.Join(theirs, sub)))
			}
		})
	}
	md, err := ReadMetadata(dir)
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	if err := json.Unmarshal(md.ParamMap["stageUids"], &uids); err != nil || len(uids) != 7 || md.Class != ClassPipelineModel {
		t.Fatalf("pipeline metadata: class %s stageUids %v (%v)", md.Class, uids, err)
	}
}

func firstPart(t *testing.T, dir string) string {
	t.Helper()
	parts, err := partFiles(dir, ".parquet")
	if err != nil {
		t.Fatal(err)
	}
	return parts[0]
}

func metadataKeySets(t *testing.T, dir string) (top, params, defaults []string) {
	t.Helper()
	md, err := ReadMetadata(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(md.Path)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]json.RawMessage) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	return keys(obj), keys(md.ParamMap), keys(md.DefaultParamMap)
}

// compareMetadataKeys checks that ours has the fixture's top-level and
// defaultParamMap keys, and that every explicitly set param is one Spark
// knows for the class (Spark's reader fails on unknown params).
func compareMetadataKeys(t *testing.T, ours, theirs string) {
	t.Helper()
	ot, op, od := metadataKeySets(t, ours)
	tt, _, td := metadataKeySets(t, theirs)
	if !reflect.DeepEqual(ot, tt) {
		t.Errorf("metadata keys\n ours  %v\n spark %v", ot, tt)
	}
	if !reflect.DeepEqual(od, td) {
		t.Errorf("defaultParamMap keys\n ours  %v\n spark %v", od, td)
	}
	known := map[string]bool{}
	for _, k := range td {
		known[k] = true
	}
	// Params without defaults in Spark 3.3 (so absent from defaultParamMap).
	for _, k := range []string{"inputCol", "inputCols", "outputCols", "splits", "splitsArray", "labelCol"} {
		known[k] = true
	}
	for _, k := range op {
		if !known[k] {
			t.Errorf("paramMap key %q is not a Spark param of this class", k)
		}
	}
}

// compareParquet compares two Parquet files' schema elements, column
// codecs and Spark key-value metadata field by field.
func compareParquet(t *testing.T, ours, theirs string) {
	t.Helper()
	a, err := openTable(ours)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openTable(theirs)
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := a.file.Metadata(), b.file.Metadata()
	if len(ma.Schema) != len(mb.Schema) {
		t.Fatalf("%s: %d schema elements, Spark's %s has %d", ours, len(ma.Schema), theirs, len(mb.Schema))
	}
	for i := range ma.Schema {
		ea, eb := schemaView(ma.Schema[i]), schemaView(mb.Schema[i])
		if ea != eb {
			t.Errorf("schema element %d\n ours  %s\n spark %s", i, ea, eb)
		}
	}
	for _, key := range []string{RowMetadataKey, VersionMetadataKey} {
		va, oka := a.keyValue(key)
		vb, okb := b.keyValue(key)
		if oka != okb || (key == RowMetadataKey && va != vb) {
			t.Errorf("key-value %s\n ours  %q (%v)\n spark %q (%v)", key, va, oka, vb, okb)
		}
	}
	for _, rg := range ma.RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Snappy {
				t.Errorf("column %v codec %v, Spark writes SNAPPY", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
}

func schemaView(e format.SchemaElement) string {
	return fmt.Sprintf("name=%s type=%v/%v len=%v rep=%v/%v children=%v conv=%v/%v logical=%v",
		e.Name, e.Type.V, e.Type.Valid, e.TypeLength, e.RepetitionType.V, e.RepetitionType.Valid,
		e.NumChildren, e.ConvertedType.V, e.ConvertedType.Valid, e.LogicalType.Value)
}

// handBuiltPipeline is a tiny model built without the trainer, so that its
// saved form is a stable golden file.
func handBuiltPipeline() *Pipeline {
	tree := handTree()
	m := &forest.Model{NumFeatures: 2, NumClasses: 3, Trees: []forest.Tree{tree, tree}, Params: forest.DefaultParams()}
	m.Params.NumTrees = 2
	stages := []Stage{
		NewStringIndexer("colour", "colour_index", []string{"red", "green", "blue", "grey"}, "keep"),
		NewVectorAssembler([]string{"size", "colour_index"}, "features", "keep"),
	}
	// 3 classes need 3 buckets.
	label := NewBucketizer("score", "label", []float64{math.Inf(-1), 0, 10, math.Inf(1)}, "error")
	return NewPipeline(stages, label, m)
}

// TestGoldenSavedPipeline renders every file SavePipeline writes for a
// hand-built pipeline (metadata lines verbatim; Parquet files as schema,
// key-value metadata and rows) and compares with testdata/handbuilt.golden.
func TestGoldenSavedPipeline(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	p := handBuiltPipeline()
	if err := SavePipeline(dir, p, WithTimestamp(1700000000000)); err != nil {
		t.Fatal(err)
	}
	files := testtree.Read(t, dir)
	var names []string
	for k := range files {
		names = append(names, k)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, name := range names {
		fmt.Fprintf(&buf, "== %s\n", name)
		if !strings.HasSuffix(name, ".parquet") {
			buf.WriteString(files[name])
			continue
		}
		tb, err := openTable(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&buf, "%s\n", tb.schema)
		for _, kv := range tb.file.Metadata().KeyValueMetadata {
			fmt.Fprintf(&buf, "kv %s = %s\n", kv.Key, kv.Value)
		}
		err = tb.rows(func(r rowValues) error {
			for c, vs := range r {
				for _, v := range vs {
					fmt.Fprintf(&buf, " c%d:r%d:d%d:%v", c, v.RepetitionLevel(), v.DefinitionLevel(), v)
				}
			}
			buf.WriteByte('\n')
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	golden := filepath.Join("testdata", "handbuilt.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("saved pipeline differs from %s; if the change is intended, rerun with -update\n%s", golden, firstDiff(buf.String(), string(want)))
	}
	// And it loads back and predicts as the in-memory pipeline does.
	q, err := LoadPipeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []map[string]any{{"size": 1.0, "colour": "blue"}, {"size": 9.0, "colour": "purple"}, {"size": nil, "colour": nil}} {
		x1, err1 := p.Transform(row)
		x2, err2 := q.Transform(row)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		p1, _ := p.Predict(x1)
		p2, _ := q.Predict(x2)
		if !reflect.DeepEqual(p1, p2) {
			t.Errorf("row %v: %v before saving, %v after", row, p1, p2)
		}
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, gl, wl)
		}
	}
	return ""
}
