// Package ingest is the first stage of the pipeline: it turns the raw data
// sets that `datalab data pull` materialises under data/ (CSV, JSON Lines and
// Parquet files, exactly as published) into typed, zstd-compressed Parquet
// files with explicit schemas, which the later stages (the use cases' feature
// builders matches/matchfeat and flights/flightfeat, and on) read through the
// row types and readers of this package:
//
//	data/ → ingest → features → forest → evaluate → report
//
// Every source row ends up in exactly one place: the Parquet output, or the
// quarantine file beside it (one JSON object per row with the file, line, raw
// text and a reason). Rows that are malformed (bad number, bad date, wrong
// column count, invalid UTF-8, …) count towards a bad-row ratio that fails the
// run above a threshold; rows that are well formed but excluded by a rule
// (cancelled or diverted flights, which have no arrival delay to learn from)
// are quarantined and reported per reason but do not count as bad.
//
// Outputs are deterministic: the same input gives byte-identical Parquet and
// quarantine files (fixed row-group size, no timestamps or host names in the
// files), and both are written atomically (temporary file and rename).
//
// Types follow what Spark and DuckDB read natively: dates are DATE, times are
// TIMESTAMP(MICROS) with isAdjustedToUTC=false (local wall clock, see
// FlightRow), strings are STRING, absent values are nulls of optional columns.
package ingest
