// Package flightdelay is the domain of the flight-delay predictor (seed B of
// the course): the request message the web app publishes to Kafka, the
// prediction document the predictor stores, the enrichment of a web form
// into a request (distance from the distance table, day fields), their
// validation, and the Scorer that turns a request into a prediction through
// a Spark-format pipeline loaded by pipeline/sparkml. Models is how the
// predictor and the web app get the scorer for each request or batch: one
// snapshot (Served) of a fixed model, or of a registry alias the command
// follows, so that a prediction is scored and named by one version.
//
// It sits after pipeline/sparkml, pipeline/ingest and flights/flightfeat
// (whose Route is the route key of every request) in the flow and before
// the stores (flights/flightstore), the Kafka plumbing (flights/stream)
// and the web app (flights/flightapp), which all share these types so
// that the JSON field names of the seed's contract live in one place.
//
// Two defects of the seed are fixed here: DayOfWeek is 1=Monday…7=Sunday
// (the seed's web app sent Monday=0 while the model was trained on 1–7), and
// the StringIndexers are applied at prediction time (the seed's streaming
// job left the four index features missing). Values the model's indexers
// have never seen (handleInvalid=error in the Spark 3.3.3 model) are
// rejected up front by Scorer.Check with a message naming the field, so the
// web app answers 400 instead of the predictor failing later.
package flightdelay
