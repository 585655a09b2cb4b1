package sparkml

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/datalabhq/datalab/pipeline/forest"
	"github.com/parquet-go/parquet-go"
)

// Spark class names of the stages this package reads and writes.
const (
	ClassRandomForest   = "org.apache.spark.ml.classification.RandomForestClassificationModel"
	ClassDecisionTree   = "org.apache.spark.ml.classification.DecisionTreeClassificationModel"
	ClassStringIndexer  = "org.apache.spark.ml.feature.StringIndexerModel"
	ClassVectorAssemble = "org.apache.spark.ml.feature.VectorAssembler"
	ClassBucketizer     = "org.apache.spark.ml.feature.Bucketizer"
	ClassPipelineModel  = "org.apache.spark.ml.PipelineModel"
)

// ModelInfo holds the Spark-side identity and column params of a
// RandomForestClassificationModel stage: what Spark needs besides the trees
// and the training params (which live in forest.Model.Params).
type ModelInfo struct {
	UID              string
	FeaturesCol      string
	LabelCol         string
	PredictionCol    string
	ProbabilityCol   string
	RawPredictionCol string
}

// nodeTableFields is the schema of <forest>/data: Spark 3.x NodeData with
// rawCount (Spark 2.x files lack it; the reader accepts both).
var nodeTableFields = []sqlField{
	{"treeID", sqlInteger, false},
	{"nodeData", sqlStruct(
		sqlField{"id", sqlInteger, false},
		sqlField{"prediction", sqlDouble, false},
		sqlField{"impurity", sqlDouble, false},
		sqlField{"impurityStats", sqlArray(sqlDouble, false), true},
		sqlField{"rawCount", sqlLong, false},
		sqlField{"gain", sqlDouble, false},
		sqlField{"leftChild", sqlInteger, false},
		sqlField{"rightChild", sqlInteger, false},
		sqlField{"split", sqlStruct(
			sqlField{"featureIndex", sqlInteger, false},
			sqlField{"leftCategoriesOrThreshold", sqlArray(sqlDouble, false), true},
			sqlField{"numCategories", sqlInteger, false},
		), true},
	), true},
}

// treesMetadataFields is the schema of <forest>/treesMetadata.
var treesMetadataFields = []sqlField{
	{"treeID", sqlInteger, false},
	{"metadata", sqlString, true},
	{"weights", sqlDouble, false},
}

// nodeTableRow, nodeDataRow and splitRow are the rows written to
// <forest>/data; the parquet tags are Spark's column names.
type nodeTableRow struct {
	TreeID   int32        `parquet:"treeID"`
	NodeData *nodeDataRow `parquet:"nodeData"`
}

type nodeDataRow struct {
	ID            int32     `parquet:"id"`
	Prediction    float64   `parquet:"prediction"`
	Impurity      float64   `parquet:"impurity"`
	ImpurityStats []float64 `parquet:"impurityStats"`
	RawCount      int64     `parquet:"rawCount"`
	Gain          float64   `parquet:"gain"`
	LeftChild     int32     `parquet:"leftChild"`
	RightChild    int32     `parquet:"rightChild"`
	Split         *splitRow `parquet:"split"`
}

type splitRow struct {
	FeatureIndex              int32     `parquet:"featureIndex"`
	LeftCategoriesOrThreshold []float64 `parquet:"leftCategoriesOrThreshold"`
	NumCategories             int32     `parquet:"numCategories"`
}

type treeMetadataRow struct {
	TreeID   int32   `parquet:"treeID"`
	Metadata *string `parquet:"metadata"`
	Weights  float64 `parquet:"weights"`
}

// nodeRecord is one node read from a node table, before the tree is built.
type nodeRecord struct {
	id   int32
	node forest.Node
	// file is the part file the node came from, for error messages.
	file string
}

// ReadRandomForest loads a RandomForestClassificationModel saved by Spark
// 2.3 to 4.x (or by SavePipeline) from dir. The node table may be split over
// several part files and may lack rawCount (Spark < 3.0, read as -1). The
// model is validated before it is returned.
func ReadRandomForest(dir string) (*forest.Model, ModelInfo, *Metadata, error) {
	md, err := ReadMetadata(dir)
	if err != nil {
		return nil, ModelInfo{}, nil, err
	}
	m, info, err := randomForestFromMetadata(md)
	if err != nil {
		return nil, ModelInfo{}, nil, err
	}
	weights, err := readTreesMetadata(filepath.Join(dir, "treesMetadata"), len(m.Trees))
	if err != nil {
		return nil, ModelInfo{}, nil, err
	}
	parts, err := partFiles(filepath.Join(dir, "data"), ".parquet")
	if err != nil {
		return nil, ModelInfo{}, nil, err
	}
	byTree := map[int32][]nodeRecord{}
	for _, p := range parts {
		t, err := openTable(p)
		if err != nil {
			return nil, ModelInfo{}, nil, err
		}
		if err := readNodeTable(t, m.NumClasses, byTree); err != nil {
			return nil, ModelInfo{}, nil, err
		}
	}
	if err := buildTrees(m, byTree, weights); err != nil {
		return nil, ModelInfo{}, nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, ModelInfo{}, nil, fmt.Errorf("%s: invalid model: %w", nodeTableFiles(byTree), err)
	}
	return m, info, md, nil
}

// randomForestFromMetadata reads the model shape, training params and
// column params from the forest's metadata; the trees are left empty.
func randomForestFromMetadata(md *Metadata) (*forest.Model, ModelInfo, error) {
	if md.Class != ClassRandomForest {
		return nil, ModelInfo{}, fmt.Errorf("%s: class %s, want %s", md.Path, md.Class, ClassRandomForest)
	}
	extraInt := func(key string) (int, error) {
		v, ok := md.Extra[key]
		if !ok {
			return 0, fmt.Errorf("%s: forest metadata has no %q", md.Path, key)
		}
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			return 0, fmt.Errorf("%s: forest metadata %q: %w", md.Path, key, err)
		}
		return n, nil
	}
	numFeatures, err := extraInt("numFeatures")
	if err != nil {
		return nil, ModelInfo{}, err
	}
	numClasses, err := extraInt("numClasses")
	if err != nil {
		return nil, ModelInfo{}, err
	}
	numTrees, err := extraInt("numTrees")
	if err != nil {
		return nil, ModelInfo{}, err
	}
	switch {
	case numFeatures < 1 || numFeatures > 1<<24:
		return nil, ModelInfo{}, fmt.Errorf("%s: numFeatures %d out of range", md.Path, numFeatures)
	case numClasses < 2 || numClasses > 1<<16:
		return nil, ModelInfo{}, fmt.Errorf("%s: numClasses %d out of range", md.Path, numClasses)
	case numTrees < 1 || numTrees > 1<<16:
		return nil, ModelInfo{}, fmt.Errorf("%s: numTrees %d out of range", md.Path, numTrees)
	}
	p := forest.DefaultParams()
	p.NumTrees = numTrees
	errs := []error{
		decodeParam(md, "numTrees", true, &p.NumTrees, decodeJSON[int]),
		decodeParam(md, "maxDepth", true, &p.MaxDepth, decodeJSON[int]),
		decodeParam(md, "maxBins", true, &p.MaxBins, decodeJSON[int]),
		decodeParam(md, "impurity", true, &p.Impurity, decodeJSON[string]),
		decodeParam(md, "featureSubsetStrategy", true, &p.FeatureSubsetStrategy, decodeJSON[string]),
		decodeParam(md, "subsamplingRate", true, &p.SubsamplingRate, decodeDouble),
		decodeParam(md, "bootstrap", true, &p.Bootstrap, decodeJSON[bool]),
		decodeParam(md, "minInstancesPerNode", true, &p.MinInstancesPerNode, decodeJSON[int]),
		decodeParam(md, "minInfoGain", true, &p.MinInfoGain, decodeDouble),
		decodeParam(md, "minWeightFractionPerNode", true, &p.MinWeightFractionPerNode, decodeDouble),
		decodeParam(md, "seed", true, &p.Seed, decodeJSON[int64]),
	}
	info := ModelInfo{UID: md.UID}
	errs = append(errs,
		decodeParam(md, "featuresCol", true, &info.FeaturesCol, decodeJSON[string]),
		decodeParam(md, "labelCol", true, &info.LabelCol, decodeJSON[string]),
		decodeParam(md, "predictionCol", true, &info.PredictionCol, decodeJSON[string]),
		decodeParam(md, "probabilityCol", true, &info.ProbabilityCol, decodeJSON[string]),
		decodeParam(md, "rawPredictionCol", true, &info.RawPredictionCol, decodeJSON[string]),
	)
	for _, err := range errs {
		if err != nil {
			return nil, ModelInfo{}, err
		}
	}
	m := &forest.Model{NumFeatures: numFeatures, NumClasses: numClasses, Trees: make([]forest.Tree, numTrees), Params: p}
	return m, info, nil
}

// readTreesMetadata reads the per-tree metadata table and returns the tree
// weights by tree id; every tree must appear exactly once with valid
// DecisionTreeClassificationModel metadata.
func readTreesMetadata(dir string, numTrees int) ([]float64, error) {
	parts, err := partFiles(dir, ".parquet")
	if err != nil {
		return nil, err
	}
	weights := make([]float64, numTrees)
	seen := make([]bool, numTrees)
	for _, p := range parts {
		t, err := openTable(p)
		if err != nil {
			return nil, err
		}
		idCol, err := t.column("treeID", parquet.Int32)
		if err != nil {
			return nil, err
		}
		mdCol, err := t.column("metadata", parquet.ByteArray)
		if err != nil {
			return nil, err
		}
		wCol, err := t.column("weights", parquet.Double)
		if err != nil {
			return nil, err
		}
		err = t.rows(func(r rowValues) error {
			id, err := r.requiredScalar(idCol)
			if err != nil {
				return err
			}
			tid := id.Int32()
			if tid < 0 || int(tid) >= numTrees {
				return fmt.Errorf("treeID %d out of range for %d trees", tid, numTrees)
			}
			if seen[tid] {
				return fmt.Errorf("tree %d listed twice", tid)
			}
			seen[tid] = true
			mv, err := r.requiredScalar(mdCol)
			if err != nil {
				return err
			}
			tmd, err := ParseMetadata(mv.ByteArray(), fmt.Sprintf("%s tree %d metadata", p, tid))
			if err != nil {
				return err
			}
			if tmd.Class != ClassDecisionTree {
				return fmt.Errorf("tree %d metadata class %s, want %s", tid, tmd.Class, ClassDecisionTree)
			}
			w, err := r.requiredScalar(wCol)
			if err != nil {
				return err
			}
			weights[tid] = w.Double()
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%s: tree %d has no metadata row (missing part file?)", dir, i)
		}
	}
	return weights, nil
}

// readNodeTable appends the nodes of one node-table part file to byTree.
func readNodeTable(t *table, numClasses int, byTree map[int32][]nodeRecord) error {
	cols := map[string]parquet.Kind{
		"treeID":                              parquet.Int32,
		"nodeData.id":                         parquet.Int32,
		"nodeData.prediction":                 parquet.Double,
		"nodeData.impurity":                   parquet.Double,
		"nodeData.impurityStats.list.element": parquet.Double,
		"nodeData.gain":                       parquet.Double,
		"nodeData.leftChild":                  parquet.Int32,
		"nodeData.rightChild":                 parquet.Int32,
		"nodeData.split.featureIndex":         parquet.Int32,
		"nodeData.split.leftCategoriesOrThreshold.list.element": parquet.Double,
		"nodeData.split.numCategories":                          parquet.Int32,
	}
	c := map[string]column{}
	for name, kind := range cols {
		col, err := t.column(name, kind)
		if err != nil {
			return err
		}
		c[name] = col
	}
	hasRawCount := t.has("nodeData.rawCount")
	if hasRawCount {
		col, err := t.column("nodeData.rawCount", parquet.Int64)
		if err != nil {
			return err
		}
		c["nodeData.rawCount"] = col
	}
	return t.rows(func(r rowValues) error {
		get := func(name string) (parquet.Value, error) { return r.requiredScalar(c[name]) }
		var vals [9]parquet.Value
		for i, name := range []string{"treeID", "nodeData.id", "nodeData.prediction", "nodeData.impurity", "nodeData.gain",
			"nodeData.leftChild", "nodeData.rightChild", "nodeData.split.featureIndex", "nodeData.split.numCategories"} {
			v, err := get(name)
			if err != nil {
				return err
			}
			vals[i] = v
		}
		stats, err := r.doubles(c["nodeData.impurityStats.list.element"])
		if err != nil {
			return err
		}
		if len(stats) != numClasses {
			return fmt.Errorf("node has %d impurityStats, want numClasses = %d", len(stats), numClasses)
		}
		split, err := r.doubles(c["nodeData.split.leftCategoriesOrThreshold.list.element"])
		if err != nil {
			return err
		}
		n := forest.Node{
			Prediction:    vals[2].Double(),
			Impurity:      vals[3].Double(),
			Stats:         stats,
			RawCount:      -1,
			Gain:          vals[4].Double(),
			Left:          vals[5].Int32(),
			Right:         vals[6].Int32(),
			Feature:       vals[7].Int32(),
			NumCategories: vals[8].Int32(),
		}
		if hasRawCount {
			v, err := get("nodeData.rawCount")
			if err != nil {
				return err
			}
			n.RawCount = v.Int64()
		}
		id := vals[1].Int32()
		switch {
		case n.Left == -1 && n.Right == -1:
			// A leaf; Spark stores its split as (-1, [], -1).
			n.Feature, n.NumCategories = -1, -1
		case n.Left < 0 || n.Right < 0:
			return fmt.Errorf("node %d has children %d,%d: both or neither must be -1", id, n.Left, n.Right)
		case n.NumCategories == -1:
			if len(split) != 1 {
				return fmt.Errorf("node %d: continuous split has %d thresholds, want 1", id, len(split))
			}
			n.Threshold = split[0]
		case n.NumCategories >= 0:
			for _, cat := range split {
				if !(cat >= 0 && cat < float64(n.NumCategories)) || cat != float64(int64(cat)) {
					return fmt.Errorf("node %d: categorical split category %v not in [0, %d)", id, cat, n.NumCategories)
				}
			}
			n.Categories = split
		default:
			return fmt.Errorf("node %d: numCategories %d, want -1 or >= 0", id, n.NumCategories)
		}
		tid := vals[0].Int32()
		if id < 0 || tid < 0 {
			return fmt.Errorf("negative treeID %d or node id %d", tid, id)
		}
		byTree[tid] = append(byTree[tid], nodeRecord{id: id, node: n, file: t.path})
		return nil
	})
}

// buildTrees places the nodes read from the node table into m.Trees: ids
// must be 0..n-1 within each tree (Spark's pre-order numbering).
func buildTrees(m *forest.Model, byTree map[int32][]nodeRecord, weights []float64) error {
	for tid, recs := range byTree {
		if tid < 0 || int(tid) >= len(m.Trees) {
			return fmt.Errorf("%s: node table has treeID %d, the model has %d trees", recs[0].file, tid, len(m.Trees))
		}
	}
	for ti := range m.Trees {
		recs := byTree[int32(ti)]
		if len(recs) == 0 {
			return fmt.Errorf("%s: tree %d has no nodes (missing part file?)", nodeTableFiles(byTree), ti)
		}
		slices.SortFunc(recs, func(a, b nodeRecord) int { return int(a.id) - int(b.id) })
		nodes := make([]forest.Node, len(recs))
		for i, r := range recs {
			if int(r.id) != i {
				return fmt.Errorf("%s: tree %d: node ids are not 0..%d (id %d at position %d; duplicate or missing node)", r.file, ti, len(recs)-1, r.id, i)
			}
			nodes[i] = r.node
		}
		m.Trees[ti] = forest.Tree{Nodes: nodes, Weight: weights[ti]}
	}
	return nil
}

// nodeTableFiles names the part files the nodes were read from.
func nodeTableFiles(byTree map[int32][]nodeRecord) string {
	var files []string
	for _, recs := range byTree {
		for _, r := range recs {
			if !slices.Contains(files, r.file) {
				files = append(files, r.file)
			}
		}
	}
	slices.Sort(files)
	return strings.Join(files, ", ")
}

// forestTrainingParams are the training params written for a forest, in
// the order they are written (alphabetical, for stable bytes), with their
// values taken from p.
func forestTrainingParams(p forest.Params) []jsonField {
	impurity := strings.ToLower(p.Impurity)
	if impurity == "" {
		impurity = "gini"
	}
	return []jsonField{
		{"bootstrap", jsonBool(p.Bootstrap)},
		{"featureSubsetStrategy", jsonString(p.FeatureSubsetStrategy)},
		{"impurity", jsonString(impurity)},
		{"maxBins", jsonInt(p.MaxBins)},
		{"maxDepth", jsonInt(p.MaxDepth)},
		{"minInfoGain", jsonDouble(p.MinInfoGain)},
		{"minInstancesPerNode", jsonInt(p.MinInstancesPerNode)},
		{"minWeightFractionPerNode", jsonDouble(p.MinWeightFractionPerNode)},
		{"numTrees", jsonInt(p.NumTrees)},
		{"seed", jsonInt(p.Seed)},
		{"subsamplingRate", jsonDouble(p.SubsamplingRate)},
	}
}

// forestDefaultParams is Spark 3.3's defaultParamMap of a
// RandomForestClassificationModel (the keys of the 3.3.3 fixture).
func forestDefaultParams() []jsonField {
	return []jsonField{
		{"bootstrap", jsonBool(true)},
		{"cacheNodeIds", jsonBool(false)},
		{"checkpointInterval", jsonInt(10)},
		{"featureSubsetStrategy", jsonString("auto")},
		{"featuresCol", jsonString("features")},
		{"impurity", jsonString("gini")},
		{"labelCol", jsonString("label")},
		{"leafCol", jsonString("")},
		{"maxBins", jsonInt(32)},
		{"maxDepth", jsonInt(5)},
		{"maxMemoryInMB", jsonInt(256)},
		{"minInfoGain", jsonDouble(0)},
		{"minInstancesPerNode", jsonInt(1)},
		{"minWeightFractionPerNode", jsonDouble(0)},
		{"numTrees", jsonInt(20)},
		{"predictionCol", jsonString("prediction")},
		{"probabilityCol", jsonString("probability")},
		{"rawPredictionCol", jsonString("rawPrediction")},
		{"seed", jsonInt(forest.SparkDefaultSeed)},
		{"subsamplingRate", jsonDouble(1)},
	}
}

// treeParamNames are the params a DecisionTreeClassificationModel has; a
// forest's per-tree metadata carries the forest's values of these only.
var treeParamNames = []string{
	"cacheNodeIds", "checkpointInterval", "featuresCol", "impurity", "labelCol", "leafCol", "maxBins",
	"maxDepth", "maxMemoryInMB", "minInfoGain", "minInstancesPerNode", "minWeightFractionPerNode",
	"predictionCol", "probabilityCol", "rawPredictionCol", "seed",
}

func onlyParams(fields []jsonField, names []string) []jsonField {
	var out []jsonField
	for _, f := range fields {
		if slices.Contains(names, f.Key) {
			out = append(out, f)
		}
	}
	return out
}

// columnParams are the non-empty column params of info, sorted by name.
func (info ModelInfo) columnParams() []jsonField {
	var out []jsonField
	for _, f := range []struct{ k, v string }{
		{"featuresCol", info.FeaturesCol}, {"labelCol", info.LabelCol}, {"predictionCol", info.PredictionCol},
		{"probabilityCol", info.ProbabilityCol}, {"rawPredictionCol", info.RawPredictionCol},
	} {
		if f.v != "" {
			out = append(out, jsonField{f.k, jsonString(f.v)})
		}
	}
	return out
}

// writeRandomForest saves m in dir in Spark 3.x layout: metadata/,
// treesMetadata/ and data/, each with a _SUCCESS marker.
func writeRandomForest(dir string, m *forest.Model, info ModelInfo, cfg *saveConfig) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("save forest %s: %w", info.UID, err)
	}
	params := append(forestTrainingParams(m.Params), info.columnParams()...)
	slices.SortFunc(params, func(a, b jsonField) int { return strings.Compare(a.Key, b.Key) })
	defaults := forestDefaultParams()
	extra := []jsonField{
		{"numFeatures", jsonInt(m.NumFeatures)},
		{"numClasses", jsonInt(m.NumClasses)},
		{"numTrees", jsonInt(len(m.Trees))},
	}
	ts := cfg.timestamp()
	if err := writeMetadataDir(dir, encodeMetadata(ClassRandomForest, ts, cfg.sparkVersion, info.UID, params, defaults, extra)); err != nil {
		return err
	}

	treeRows := make([]treeMetadataRow, len(m.Trees))
	for ti := range m.Trees {
		tmd := string(encodeMetadata(ClassDecisionTree, ts, cfg.sparkVersion, derivedUID("dtc", fmt.Sprintf("%s/tree/%d", info.UID, ti)),
			onlyParams(params, treeParamNames), onlyParams(defaults, treeParamNames), nil))
		treeRows[ti] = treeMetadataRow{TreeID: int32(ti), Metadata: &tmd, Weights: m.Trees[ti].Weight}
	}
	if err := writeParquetDir(filepath.Join(dir, "treesMetadata"), info.UID+"/treesMetadata", treesMetadataFields, treeRows, cfg); err != nil {
		return err
	}

	var rows []nodeTableRow
	for ti := range m.Trees {
		for i := range m.Trees[ti].Nodes {
			n := &m.Trees[ti].Nodes[i]
			split := &splitRow{FeatureIndex: -1, LeftCategoriesOrThreshold: []float64{}, NumCategories: -1}
			if !n.IsLeaf() {
				split.FeatureIndex = n.Feature
				split.NumCategories = n.NumCategories
				if n.NumCategories < 0 {
					split.LeftCategoriesOrThreshold = []float64{n.Threshold}
				} else {
					for _, c := range n.Categories {
						if !(c >= 0 && c < float64(n.NumCategories)) {
							return fmt.Errorf("save forest %s: tree %d node %d: category %v not in [0, %d); Spark would refuse to load it", info.UID, ti, i, c, n.NumCategories)
						}
					}
					split.LeftCategoriesOrThreshold = append([]float64{}, n.Categories...)
				}
			}
			rows = append(rows, nodeTableRow{TreeID: int32(ti), NodeData: &nodeDataRow{
				ID: int32(i), Prediction: n.Prediction, Impurity: n.Impurity,
				ImpurityStats: append([]float64{}, n.Stats...), RawCount: n.RawCount, Gain: n.Gain,
				LeftChild: n.Left, RightChild: n.Right, Split: split,
			}})
		}
	}
	return writeParquetDir(filepath.Join(dir, "data"), info.UID+"/data", nodeTableFields, rows, cfg)
}

// writeMetadataDir writes dir/metadata/part-00000 (one JSON line, as
// Spark's saveAsTextFile does) and the _SUCCESS marker.
func writeMetadataDir(dir string, doc []byte) error {
	mdir := filepath.Join(dir, "metadata")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(mdir, "part-00000"), append(doc, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(mdir, "_SUCCESS"), nil, 0o644)
}

// writeParquetDir writes rows as dir/part-00000-<uuid>-c000.snappy.parquet
// plus _SUCCESS, like a one-partition Spark DataFrame write.
func writeParquetDir[T any](dir, seed string, fields []sqlField, rows []T, cfg *saveConfig) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := sparkPartName(seed, ".snappy.parquet")
	if err := writeParquetFile(filepath.Join(dir, name), fields, rows, cfg.sparkVersion); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "_SUCCESS"), nil, 0o644)
}
