// Package emr trains a flight variant on a transient Amazon EMR cluster: the
// sparkjob.Runner behind `datalab train flights --engine spark --runner emr`,
// the seed's Airflow DAG (create cluster → add steps → wait → terminate)
// without its defects.
//
// Runner.Submit stages the inputs in one bucket laid out as the seed's
// buckets were (raw/, parquet/, scripts/, models/, logs/, plus bin/ for the
// datalab binary), starts a cluster with RunJobFlow — release label
// configurable, Spark, 1 master + N core nodes as instance fleets on spot
// capacity that fall back to on-demand when spot does not come within a
// timeout, a bootstrap action installing datalab, logs to s3://…/logs/, an
// idle auto-termination policy as a backstop — adds an ingest step (datalab
// ingest on the master node) and the training step (spark-submit of
// sparkjob's PySpark job) with AddJobFlowSteps, waits for them with
// exponential backoff, downloads the model and installs it where the Go
// server loads it (sparkjob.Install). The cluster is terminated on every
// path out of Submit once it exists: success, any error, a cancelled
// context (the terminate call gets a fresh context with its own timeout).
//
// The API and S3 clients are interfaces satisfied by the aws-sdk-go-v2
// clients; the tests point real SDK clients at an httptest EMR endpoint
// speaking awsJson1_1 and at an in-process S3 (gofakes3).
package emr
