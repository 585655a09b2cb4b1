// Package sparkjob trains the flight-delay model on Spark instead of in Go:
// `datalab train flights --engine spark`. It ships the PySpark job
// train_flights.py (embedded, printed by `datalab spark job`), which trains
// the pipeline flights/flightmodel trains — label Bucketizer, StringIndexers,
// VectorAssembler, RandomForestClassifier with the variant's parameters — and
// saves a Spark PipelineModel that pipeline/sparkml loads and the flight web
// app serves unchanged.
//
// A Job is one variant of params.flights; Job.Args turns it into the job's
// command-line arguments, whose names and defaults mirror the Go
// configuration one to one (checked by the package tests, and by
// Job.Validate against the embedded job before anything is submitted).
// A Runner submits a Job somewhere and leaves the model in Job.ModelDir:
// LocalRunner runs spark-submit --master local[*] here (or in the apache/spark
// container); flights/emr runs it as a step on a transient EMR cluster.
// Install checks that Go can load what Spark wrote before it replaces a
// model directory.
//
// It sits beside flights/flightmodel in the flow (features → forest →
// models) and imports only earlier stages.
package sparkjob
