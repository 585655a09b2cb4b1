// Package sparkml reads and writes Spark MLlib's on-disk model format, so
// that models trained by Spark can be scored in Go and models trained by
// package forest can be handed back to Spark.
//
// It sits beside pipeline/forest in the flow: forest owns the tree model and
// its training; sparkml translates between forest.Model (plus the feature
// stages that turn a raw row into a feature vector) and the directories Spark
// writes with MLWritable.save:
//
//   - RandomForestClassificationModel (metadata/, treesMetadata/, data/),
//     Spark 2.3 to 4.x: rawCount present or absent, node tables split over
//     any number of Parquet part files;
//   - StringIndexerModel (2.x "labels" and 3.x "labelsArray"; handleInvalid
//     error, skip or keep), VectorAssembler and Bucketizer;
//   - PipelineModel directories, and the "course layout": a directory of
//     per-stage directories saved one by one.
//
// LoadPipeline accepts either layout and returns a Pipeline, whose Transform
// applies the feature stages exactly as Spark would and whose Predict scores
// with Spark's split semantics (including Spark's rule for categorical values
// outside a split's known categories, see forest.Node.GoLeft). SavePipeline writes a
// real PipelineModel directory with the metadata fields, Parquet schemas and
// Parquet key-value metadata Spark itself writes, atomically.
//
// Every load error names the file it comes from and what is wrong with it;
// a model is either loaded completely and validated, or not at all.
package sparkml
