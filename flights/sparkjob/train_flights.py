"""Train datalab's flight-delay model on Spark and save it as a PipelineModel.

`datalab train flights --engine spark` submits this file (embedded in the Go
package flights/sparkjob) with spark-submit, locally or as an EMR step. It
trains the pipeline flights/flightmodel trains in Go, stage for stage:

  Route = Origin + "-" + Dest
  Bucketizer  ArrDelay -> ArrDelayBucket, splits [-inf, -15, 0, 30, inf], handleInvalid error
  StringIndexer per indexed column (Carrier, Origin, Dest, Route as the
              variant's features name them), frequencyDesc, handleInvalid keep,
              fitted on the training split only
  VectorAssembler  the variant's features in order -> Features_vec, handleInvalid keep
  RandomForestClassifier  the variant's forest parameters

and saves PipelineModel([Bucketizer, StringIndexerModel..., VectorAssembler,
RandomForestClassificationModel]) with model.write().overwrite().save(), the
layout the Go server loads (pipeline/sparkml).

Every argument mirrors a field of params.flights in datalab.yaml
(flightmodel.Config, flightmodel.VariantConfig, forest.Config) one to one:
the YAML key with "_" written "-". The defaults are the Go side's
(forest.DefaultParams, i.e. Spark's, and datalab.yaml's split); the Go test
TestJobParamsMatchGo fails when either side changes. Keep every add_argument
call on one line: that test reads them.

What differs from the Go trainer: the train/test split. Go permutes the rows
with a seeded PCG generator; Spark's randomSplit samples each partition with
its own generator, so the same --split-seed gives a different (and only
approximately 80/20) split. The indexers, the forest and the held-out metrics
printed at the end are therefore not the Go trainer's, only comparable to
them within sampling noise.

pyspark is imported inside train(), so `python3 train_flights.py --help` and
the Go tests work where Spark is not installed.
"""

import argparse
import json
import sys

# Mirrored from flights/flightfeat and pipeline/forest (checked by
# TestJobConstantsMatchGo).
ARR_DELAY_COL = "ArrDelay"
LABEL_COL = "ArrDelayBucket"
FEATURES_COL = "Features_vec"
INDEX_SUFFIX = "_index"
STRING_COLUMNS = ["Carrier", "Origin", "Dest", "Route"]
DELAY_SPLITS = [float("-inf"), -15.0, 0.0, 30.0, float("inf")]
LABEL_HANDLE_INVALID = "error"
INDEXER_HANDLE_INVALID = "keep"
INDEXER_ORDER_TYPE = "frequencyDesc"
ASSEMBLER_HANDLE_INVALID = "keep"
# Forest parameters the Go trainer does not expose; Spark's defaults.
SUBSAMPLING_RATE = 1.0
BOOTSTRAP = True
MIN_INFO_GAIN = 0.0
MIN_WEIGHT_FRACTION_PER_NODE = 0.0


def parse_bool(s):
    """Parse true/false the way Go's strconv.ParseBool spells them."""
    v = s.strip().lower()
    if v in ("true", "t", "1"):
        return True
    if v in ("false", "f", "0"):
        return False
    raise argparse.ArgumentTypeError("want true or false, got %r" % s)


def build_parser():
    p = argparse.ArgumentParser(description="Train a datalab flight-delay variant on Spark.")
    # params.flights (flightmodel.Config)
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of rows held out (params.flights.test_fraction)")
    p.add_argument("--split-seed", type=int, default=2008, help="seed of randomSplit (params.flights.split_seed)")
    # one variant (flightmodel.VariantConfig)
    p.add_argument("--name", type=str, required=True, help="variant name")
    p.add_argument("--data", type=str, required=True, help="ingested flight Parquet: a path or an s3:// URI")
    p.add_argument("--features", type=str, required=True, help="assembled features in vector order, comma-separated")
    p.add_argument("--categorical", type=parse_bool, default=False, help="index features categorical (arity labels + 1) rather than ordered numbers")
    # the forest (forest.Config; defaults forest.DefaultParams)
    p.add_argument("--num-trees", type=int, default=20, help="numTrees")
    p.add_argument("--max-depth", type=int, default=5, help="maxDepth")
    p.add_argument("--max-bins", type=int, default=32, help="maxBins (at least the largest categorical arity)")
    p.add_argument("--min-instances-per-node", type=int, default=1, help="minInstancesPerNode")
    p.add_argument("--feature-subset", type=str, default="auto", help="featureSubsetStrategy")
    p.add_argument("--impurity", type=str, default="gini", help="impurity: gini or entropy")
    p.add_argument("--seed", type=int, default=207336481, help="forest seed (Scala's default; PySpark's own default differs)")
    # where the model goes
    p.add_argument("--output", type=str, required=True, help="PipelineModel directory: a path or an s3:// URI (overwritten)")
    return p


def indexed_columns(features):
    """The string columns behind the <column>_index features, in feature order."""
    cols = []
    for f in features:
        if f.endswith(INDEX_SUFFIX) and f[: -len(INDEX_SUFFIX)] in STRING_COLUMNS:
            cols.append(f[: -len(INDEX_SUFFIX)])
    return cols


def train(args):
    from pyspark.ml import PipelineModel
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.feature import Bucketizer, StringIndexer, VectorAssembler
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    features = [f for f in args.features.split(",") if f]
    if not features or ARR_DELAY_COL in features:
        raise SystemExit("--features: want a non-empty list without %s (the label's source)" % ARR_DELAY_COL)

    spark = SparkSession.builder.appName("datalab-train-flights-" + args.name).getOrCreate()
    spark.sparkContext.setLogLevel("WARN")

    flights = spark.read.parquet(args.data).withColumn("Route", F.concat(F.col("Origin"), F.lit("-"), F.col("Dest")))
    train_rows, test_rows = flights.randomSplit([1.0 - args.test_fraction, args.test_fraction], seed=args.split_seed)
    train_rows = train_rows.cache()

    label = Bucketizer(splits=DELAY_SPLITS, inputCol=ARR_DELAY_COL, outputCol=LABEL_COL, handleInvalid=LABEL_HANDLE_INVALID)
    indexers = [
        StringIndexer(inputCol=c, outputCol=c + INDEX_SUFFIX, stringOrderType=INDEXER_ORDER_TYPE, handleInvalid=INDEXER_HANDLE_INVALID).fit(train_rows)
        for c in indexed_columns(features)
    ]
    assembler = VectorAssembler(inputCols=features, outputCol=FEATURES_COL, handleInvalid=ASSEMBLER_HANDLE_INVALID)

    prepared = PipelineModel([label] + indexers).transform(train_rows)
    if not args.categorical:
        # A StringIndexer marks its output nominal, and the forest treats a
        # nominal column as categorical; re-declared numeric it is an ordered
        # number. (alias(metadata={}) would keep the old metadata: PySpark
        # ignores an empty dict.)
        for c in indexed_columns(features):
            col = c + INDEX_SUFFIX
            prepared = prepared.withColumn(col, F.col(col).alias(col, metadata={"ml_attr": {"type": "numeric", "name": col}}))
    forest = RandomForestClassifier(
        featuresCol=FEATURES_COL,
        labelCol=LABEL_COL,
        numTrees=args.num_trees,
        maxDepth=args.max_depth,
        maxBins=args.max_bins,
        minInstancesPerNode=args.min_instances_per_node,
        featureSubsetStrategy=args.feature_subset,
        impurity=args.impurity,
        seed=args.seed,
        subsamplingRate=SUBSAMPLING_RATE,
        bootstrap=BOOTSTRAP,
        minInfoGain=MIN_INFO_GAIN,
        minWeightFractionPerNode=MIN_WEIGHT_FRACTION_PER_NODE,
    ).fit(assembler.transform(prepared))

    model = PipelineModel([label] + indexers + [assembler, forest])
    model.write().overwrite().save(args.output)

    scored = model.transform(test_rows)
    metrics = {"variant": args.name, "output": args.output, "train_rows": train_rows.count(), "test_rows": scored.count()}
    for m in ("accuracy", "weightedPrecision", "weightedRecall", "f1"):
        metrics[m] = MulticlassClassificationEvaluator(labelCol=LABEL_COL, predictionCol="prediction", metricName=m).evaluate(scored)
    print(json.dumps(metrics, sort_keys=True))
    spark.stop()


def main(argv):
    train(build_parser().parse_args(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
