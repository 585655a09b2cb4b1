// Package flightfeat turns ingested flights (pipeline/ingest FlightRow, the
// seed's flight-delay schema) into the flight-delay model's features with
// Spark-compatible stages, as the course's Spark job did:
//
//   - Route = Origin + "-" + Dest;
//   - label ArrDelayBucket = Bucketizer on ArrDelay with splits
//     [-inf, -15, 0, 30, +inf] (4 classes, see ClassNames);
//   - StringIndexer (frequencyDesc, ties alphabetical, handleInvalid keep) on
//     Carrier, Origin, Dest, Route, fitted on the training split only;
//   - VectorAssembler in the seed's order (SeedFeatures): DepDelay,
//     Distance, DayOfMonth, DayOfWeek, DayOfYear, Carrier_index,
//     Origin_index, Dest_index, Route_index.
//
// The stages are pipeline/sparkml types, so the fitted pipeline is saved in
// Spark's PipelineModel format and scores raw rows with Transform; Columns
// computes the same vectors column-wise for training.
//
// It sits between pipeline/ingest and the model (flights/flightmodel) in the
// flow and imports neither the model nor anything later.
package flightfeat
