# Ensue — run `make help` for the targets.
GO ?= go

.PHONY: help run test test-short fuzz bench-ingest vet fmt build

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## Run Ensue with the embedded store on 127.0.0.1:7600
	$(GO) run ./cmd/ensue serve

build: ## Build the ensue binary into ./bin
	$(GO) build -o bin/ensue ./cmd/ensue

test: ## Run the whole test suite with the race detector
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: ## Run the tests without the race detector
	$(GO) test -count=1 ./...

fuzz: ## Fuzz every parser for 30s each
	$(GO) test ./internal/event -run '^$$' -fuzz FuzzParseStructured -fuzztime 30s
	$(GO) test ./internal/event -run '^$$' -fuzz FuzzParseBatch -fuzztime 30s
	$(GO) test ./internal/event -run '^$$' -fuzz FuzzParseBinary -fuzztime 30s

bench-ingest: ## Measure ingest against the raw JetStream ceiling (takes minutes)
	$(GO) run ./cmd/ensue bench ingest

vet: ## go vet
	$(GO) vet ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')
