# The harness's entry points. Every target runs setup first: it is idempotent and takes
# a few seconds once libtorch and gotch are in place.
GO ?= go

.PHONY: setup demo test bench vet

setup:
	@bash scripts/setup.sh

demo: setup
	$(GO) run ./runner

vet: setup
	$(GO) vet ./...

test: vet
	$(GO) test -count=1 -timeout 20m ./...

# Benchmarks print numbers (step times, memory); they never fail on a slow machine.
bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./...
