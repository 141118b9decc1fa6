# dockhand: the two commands on a fresh machine are `make demo` and `make test`.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

GO ?= go
CONTROLLER_GEN ?= $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.20.1
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/dockhand-dev/dockhand/internal/version.Version=$(VERSION) \
	-X github.com/dockhand-dev/dockhand/internal/version.Commit=$(COMMIT)
BENCH ?= .
BENCHTIME ?= 1s

.PHONY: all build test test-short setup generate lint bench demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dockhand ./cmd/dockhand

## setup: install and build what the tests need (apt packages, envtest binaries); cached.
setup:
	./fixtures/setup.sh >/dev/null

## test: the whole suite, with the race detector, against real servers.
test: setup lint
	KUBEBUILDER_ASSETS="$$(./fixtures/setup.sh)" $(GO) test -race -count=1 -timeout 30m ./...

## test-short: quick tests only (no envtest, no sshd).
test-short:
	$(GO) test -short ./...

## generate: deepcopy and CRDs from the kubebuilder markers in api/v1, the
## controller's ClusterRole from the rbac markers in internal/controller.
## GENERATE_OUT=DIR writes them into DIR (the RBAC into DIR/rbac) instead
## (the staleness tests of api/v1 and internal/controller do).
generate:
	$(CONTROLLER_GEN) object paths=./api/... $(if $(GENERATE_OUT),output:object:dir=$(GENERATE_OUT))
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:dir=$(or $(GENERATE_OUT),config/crd/bases)
	$(CONTROLLER_GEN) rbac:roleName=dockhand-controller paths=./internal/controller/... output:rbac:dir=$(if $(GENERATE_OUT),$(GENERATE_OUT)/rbac,config/rbac)

lint:
	$(GO) vet ./...
	$(STATICCHECK) ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./... # dockhand builds for macOS and Windows too
	GOOS=windows $(GO) vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null)"; \
	if [[ -n "$$out" ]]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: every benchmark; narrow with BENCH=regexp, e.g. make bench BENCH=BenchmarkSelect
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) ./...

clean:
	rm -rf bin

## demo: the embedded default end to end on loopback servers (a registry and a
## Git server in process; about 20 s with a cold build cache, 3 s warm).
demo:
	@command -v git >/dev/null 2>&1 || { echo "make demo: installing git (the demo's Git server runs git http-backend)"; \
		sudo=""; [[ $$(id -u) -eq 0 ]] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends git; }
	@$(GO) build -o bin/dockhand ./cmd/dockhand
	@bin/dockhand demo
