package flow

// Base images. This is the only file that names an image: change a tag and
// its digest together, here, and nowhere else. GoImage is pinned by digest;
// SparkImage only by tag (below).
//
// Provenance (no registry is reachable where this module was written, so the
// digest was not pulled here): sha256:a688600c… is the multi-architecture
// index digest (linux/amd64, linux/arm64/v8) that `docker buildx imagetools
// inspect golang:1.26.8-bookworm` returned on 2026-09-30, as recorded in
// several public repositories that pin the same image. The tag moves when
// Docker rebuilds it on a newer Debian point release; the digest does not.
// To refresh: `docker buildx imagetools inspect golang:1.26.8-bookworm` and
// copy the "Digest:" line here (docs/dagger.md).
const (
	// GoImage builds and runs every function: Debian bookworm, so .ci/setup's
	// apt-get works, with the Go release go.mod asks for (GOTOOLCHAIN=local
	// never downloads another).
	GoImage = GoImageTag + "@" + GoImageDigest

	// GoImageTag is the human-readable half of GoImage.
	GoImageTag = "golang:1.26.8-bookworm"
	// GoImageDigest is the half that resolves.
	GoImageDigest = "sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d"
)

// SparkImage runs `datalab train flights --engine spark --runner local`
// (SparkTrain): apache/spark-docker's 3.5.3/scala2.12-java11-python3-ubuntu
// flavour — Spark 3.5.3 with its own PySpark on eclipse-temurin:11-jre-focal
// (Ubuntu 20.04, glibc 2.31) plus python3, SPARK_HOME=/opt/spark (bin/ not on
// PATH: the local runner falls back to $SPARK_HOME/bin/spark-submit), commands
// run as user spark (uid 185). docs/spark-training.md.
//
// Pinned by tag only: no registry was reachable to resolve a digest, and none
// is written here that was not resolved. Make it tag@digest with the
// "Digest:" line of `docker buildx imagetools inspect
// apache/spark:3.5.3-scala2.12-java11-python3-ubuntu` (docs/dagger.md).
const SparkImage = "apache/spark:3.5.3-scala2.12-java11-python3-ubuntu"
