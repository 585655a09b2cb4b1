// Package stream is the Kafka side of the flight-delay predictor: the
// producer the web app publishes requests with, the predictor (a
// consumer-group member that decodes, scores, stores, publishes the
// response and only then commits), the dead-letter topic for messages it
// cannot use, topic creation, the predictor's health (consumer-group
// membership followed through franz-go hooks, served as /healthz and a
// Prometheus gauge), and an embedded Kafka-protocol broker (franz-go's
// kfake) for running the whole stack from one binary.
//
// It sits after flights/flightdelay (messages, scoring) and
// flights/flightstore (where predictions go), and before the web app and
// the CLI, which only wire it.
//
// Delivery is at least once, made effectively once by the store: a
// request's prediction is upserted by UUID, so a redelivered request
// (predictor killed before committing, rebalance) replaces its document
// instead of adding one. The offset of a record is committed only after its
// prediction is stored and its response (or dead-letter record) is
// acknowledged by the broker. While the store is down the predictor retries
// with backoff and commits nothing. A record the store refuses as a data
// error (flightstore.IsPermanent) is found by storing the batch's halves
// apart and goes to the dead-letter topic, so no record can hold a
// partition up; a predictor that makes no progress anyway (records waiting,
// no commit for PredictorConfig.StuckAfter) says so on /healthz.
//
// The model may change while the predictor runs (PredictorConfig.Models,
// e.g. a registry alias the CLI follows): each batch is scored under one
// snapshot, so its predictions name one version (Prediction.Model) and the
// stored predictions change version once per swap, in scoring order.
package stream
