// Package flightmodel trains and evaluates the flight-delay model of issue 5:
// the course's Spark pipeline (flightfeat stages + random forest, four
// arrival-delay buckets) reproduced in Go, trained per variant on a seeded
// 80/20 random split of an ingested flight data set (BTS 2008 in the seed's
// schema; flights-3m with the features it has), saved as Spark PipelineModel
// directories under build/models/flights/<variant>/ and scored on the held-out
// rows through the saved model — Transform and Predict on raw rows, the path
// the flight web app uses — against a majority-class and a DepDelay-only
// baseline (build/metrics/flights/metrics.json).
//
// Variants, split and forests come from params.flights in datalab.yaml
// (Config). It sits after flights/flightfeat and pipeline/forest in
// the flow; the report is assembled by its subpackage flightreport.
package flightmodel
