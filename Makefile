# secopsd — build, run and test. `make run` and `make test` are the two set-up commands.
GO                  ?= go
STATICCHECK_VERSION := v0.8.2
VERSION             ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN                 := bin/secopsd
CONFIG              ?= configs/secopsd.yaml
LDFLAGS             := -X main.version=$(VERSION)
PKGS                := ./...

.PHONY: all build run test bench fuzz lint fmt clean

all: build

## build: compile the daemon into bin/secopsd
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/secopsd

## run: build and start the daemon on the embedded SQLite store (./data), UI/API on 127.0.0.1:8080
run: build
	@mkdir -p data
	./$(BIN) run --config $(CONFIG)

## test: the whole suite (Go tests with the race detector, incl. both store backends, and the Rego policy tests)
test: build
	./$(BIN) policy test policies
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## bench: benchmarks with allocation figures
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each (the seed corpora also run in `make test`)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 20x $$pkg || exit 1; \
	  done; \
	done

## lint: gofmt, go vet and staticcheck (pinned, via go run)
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

## fmt: format the code
fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
