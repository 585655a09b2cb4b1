package sparkml

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/datalabhq/datalab/pipeline/forest"
)

// FuzzParseMetadata feeds arbitrary stage metadata to the parser and the
// forest and stage param decoders: they must return errors, never panic.
func FuzzParseMetadata(f *testing.F) {
	for _, dir := range []string{
		"flight-delay-spark-3.3.3/spark_random_forest_classifier.flight_delays.5.0.bin",
		"flight-delay-spark-3.3.3/string_indexer_model_Carrier.bin",
		"flight-delay-spark-3.3.3/arrival_bucketizer_2.0.bin",
		"flight-delay-spark-2.4.0/numeric_vector_assembler.bin",
		"pyspark-2.3-rf-4parts",
	} {
		if data, err := os.ReadFile(filepath.Join(fixtureDirForFuzz(f), dir, "metadata", "part-00000")); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"class":"x","uid":"u","sparkVersion":"3.0","timestamp":1,"paramMap":{"splits":["-Inf",1,"Inf"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := ParseMetadata(data, "fuzz/metadata/part-00000")
		if err != nil {
			return
		}
		if m, _, err := randomForestFromMetadata(md); err == nil && len(m.Trees) != m.Params.NumTrees && md.ParamMap["numTrees"] == nil && md.DefaultParamMap["numTrees"] == nil {
			t.Fatalf("numTrees %d not taken from the metadata (%d trees)", m.Params.NumTrees, len(m.Trees))
		}
		readBucketizer(md)
		readVectorAssembler(md)
	})
}

// fixtureDirForFuzz is the spark-models directory of the mirror, or "" when
// the mirror is absent (the fuzz targets then run on their own seeds).
func fixtureDirForFuzz(f *testing.F) string {
	if d := os.Getenv("DATALAB_MIRROR"); d != "" {
		return filepath.Join(d, "spark-models")
	}
	return filepath.Join("..", "..", "..", "shared", "data", "spark-models")
}

// FuzzNodeTable feeds arbitrary bytes as a node-table Parquet file: opening
// and reading must fail with an error naming the file, never panic, and a
// table that reads must build trees that validate or fail cleanly.
func FuzzNodeTable(f *testing.F) {
	base := fixtureDirForFuzz(f)
	for _, p := range []string{
		"flight-delay-spark-2.4.0/spark_random_forest_classifier.flight_delays.5.0.bin/data",
		"pyspark-2.3-rf-4parts/data",
	} {
		if parts, err := partFiles(filepath.Join(base, p), ".parquet"); err == nil {
			if data, err := os.ReadFile(parts[0]); err == nil {
				f.Add(data)
			}
		}
	}
	// A small table written by the writer, so the corpus has a seed even
	// without the mirror.
	dir := f.TempDir()
	if err := writeRandomForest(dir, handBuiltPipeline().Model, ModelInfo{UID: "rf"}, &saveConfig{sparkVersion: DefaultSparkVersion}); err != nil {
		f.Fatal(err)
	}
	if parts, err := partFiles(filepath.Join(dir, "data"), ".parquet"); err == nil {
		if data, err := os.ReadFile(parts[0]); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := openTableBytes("fuzz/data/part-00000.parquet", data)
		if err != nil {
			return
		}
		for _, numClasses := range []int{2, 3, 4} {
			byTree := map[int32][]nodeRecord{}
			if err := readNodeTable(tb, numClasses, byTree); err != nil {
				continue
			}
			m := &forest.Model{NumFeatures: 1000, NumClasses: numClasses, Trees: make([]forest.Tree, len(byTree))}
			if buildTrees(m, byTree, make([]float64, len(byTree))) != nil || m.Validate() != nil {
				continue
			}
			x := make([]float64, 1000)
			for i := range x {
				x[i] = math.NaN()
			}
			p := &Pipeline{Model: m}
			if _, err := p.Predict(x); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzTreeStructure builds node tables from arbitrary bytes (ids, children,
// features, categories) and checks that buildTrees plus Validate accept only
// trees that Predict can walk without panicking or looping.
func FuzzTreeStructure(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 0, 255, 255, 0, 0, 255, 255, 0})
	f.Add([]byte{0, 1, 4, 1, 3, 255, 255, 0, 0, 255, 255, 0, 0, 1, 2, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		const numClasses, numFeatures = 2, 3
		byTree := map[int32][]nodeRecord{}
		for i := 0; i+6 <= len(data) && i < 6*64; i += 6 {
			id := int32(int8(data[i]))
			left, right := int32(int8(data[i+1])), int32(int8(data[i+2]))
			feat := int32(int8(data[i+3]))
			numCats := int32(int8(data[i+4]))
			n := forest.Node{Stats: []float64{float64(data[i+5] & 3), float64(data[i+5] >> 2)}, Left: left, Right: right,
				Feature: feat, NumCategories: numCats, Threshold: float64(binary.LittleEndian.Uint16(data[i+4:]))}
			if numCats >= 0 {
				n.Categories = []float64{float64(data[i+5] % 4)}
			}
			byTree[0] = append(byTree[0], nodeRecord{id: id, node: n})
		}
		m := &forest.Model{NumFeatures: numFeatures, NumClasses: numClasses, Trees: make([]forest.Tree, 1)}
		if buildTrees(m, byTree, []float64{1}) != nil || m.Validate() != nil {
			return
		}
		p := &Pipeline{Model: m}
		for _, x := range [][]float64{{0, 0, 0}, {math.NaN(), 1, 2}, {1e9, -1e9, 3}} {
			if _, err := p.Predict(x); err != nil {
				t.Fatal(err)
			}
		}
	})
}
