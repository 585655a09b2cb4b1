# datalab — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
export GOTOOLCHAIN := local
# The offline mirror of the data sets, used as a pull source before the origin
# URLs. CI and tests have it beside the repository.
DATALAB_MIRROR ?= $(abspath $(wildcard ../shared/data))
export DATALAB_MIRROR
# Real database servers for the SQL tests (.ci/setup starts them on loopback).
DATALAB_TEST_POSTGRES ?= postgres://postgres:postgres@127.0.0.1:5432/datalab_test?sslmode=disable
DATALAB_TEST_MYSQL ?= datalab:datalab@tcp(127.0.0.1:3306)/datalab_test?parseTime=true
export DATALAB_TEST_POSTGRES DATALAB_TEST_MYSQL
GO ?= go
BIN := .bin
# One compile of every package serves the build, the tests and the static
# image build (datalab image, ops/image's tests), which must be
# CGO_ENABLED=0 and -trimpath: each other setting would compile the whole
# dependency tree once more (minutes on two cores). datalab needs no cgo
# (SQLite is modernc's pure Go). The race detector needs cgo and compiles
# its own instrumented copy anyway; the DuckDB benchmark anchor is cgo-only
# (bench/read/run.sh).
export CGO_ENABLED ?= 0
export GOFLAGS := $(strip $(filter-out -trimpath,$(GOFLAGS)) -trimpath)

.PHONY: build run lab test test-dagger setup test-short bench clean fuzz

build:
	$(GO) build -o $(BIN)/datalab ./cmd/datalab

# The main job on embedded defaults: pull data, ingest, train, evaluate, report,
# notebooks (whose kernel `.ci/setup notebooks` installs and builds).
run: build
	bash .ci/setup notebooks
	$(BIN)/datalab run

# The notebooks in the browser: Jupyter's notebook server with the GoNB
# kernel (`.ci/setup lab` installs it, and gopls for completion), the URLs
# printed, parameters from datalab.yaml; Ctrl-C stops it (docs/notebooks.md).
lab: build
	bash .ci/setup lab
	$(BIN)/datalab lab

# Installs and starts what the tests need (Debian packages, database servers,
# pinned Go tools); idempotent, so `make test` can always call it.
setup:
	bash .ci/setup

# The whole test suite, as CI runs it (see .ci/run).
test: setup
	$(BIN)/actionlint -color=false .github/workflows/*.yml
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	# The cgo-only tests (DuckDB reads what datalab ingest writes): left out
	# of the run above, which builds without cgo (internal/repocheck checks
	# that every test in a cgo-only file is run here).
	CGO_ENABLED=1 $(GO) test -count=1 -run '^TestDuckDB' ./pipeline/ingest/
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./pipeline/forest/ ./pipeline/sparkml/ ./pipeline/stagerun/ ./pipeline/watch/ ./flights/stream/ ./pipeline/sqldb/ ./matches/predlog/ ./pipeline/serve/ ./matches/matchapp/ ./flights/flightapp/ ./pipeline/objstore/... ./flights/emr/
	# The Dagger module (its own go.mod): type-checks the glue against the
	# stand-in for generated code and runs the fake-engine tests (docs/dagger.md).
	cd dagger && $(GO) vet ./... && $(GO) test -count=1 ./...
	# Every fuzz target for FUZZTIME (3s) each; crashers become regression
	# tests under testdata/fuzz (see .ci/fuzz, docs/security.md).
	bash .ci/fuzz

# The Dagger module on a real Dagger engine built here from its pinned
# sources (dagger/realengine/run, docs/dagger.md): dagger develop must write
# the committed generated code, dagger functions must offer every function,
# flow's containers are checked from inside, and `dagger call run --mirror`
# must return the lock's models byte for byte. Root only; cached in
# ~/.cache/datalab/realengine. `.ci/run` runs it after `make test`.
test-dagger:
	bash dagger/realengine/run check

# Only the fuzz targets: FUZZTIME=30s make fuzz for a longer look.
fuzz:
	bash .ci/fuzz

test-short:
	$(GO) test -short ./...

bench:
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem ./pipeline/...

clean:
	rm -rf $(BIN) build runs
