# Scanner operations service. `make help` lists the targets.

GO          ?= go
BINARY      ?= bin/onboarding-service
OAPI_CODEGEN = $(GO) run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen
GEN_CONFIGS  = models server client spec
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      = -X main.version=$(VERSION)

# Settings of `make run`: a self-contained demo on SQLite.
RUN_DATA    ?= data
# It listens on loopback only: its JWT secret is the public one below.
RUN_ENV      = ONBOARDING_LISTEN=$${ONBOARDING_LISTEN:-127.0.0.1:8082} \
               ONBOARDING_DATABASE_URL=$(RUN_DATA)/onboarding.db \
               ONBOARDING_JWT_SECRET=$${ONBOARDING_JWT_SECRET:-local-development-secret-change-me} \
               ONBOARDING_LOCAL_STEP_DELAY=$${ONBOARDING_LOCAL_STEP_DELAY:-2s}

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: generate
generate: ## Regenerate gen/ from openapi/openapi.yaml.
	@for cfg in $(GEN_CONFIGS); do \
		$(OAPI_CODEGEN) -config openapi/$$cfg.cfg.yaml openapi/openapi.yaml || exit 1; \
	done

.PHONY: check-generated
check-generated: ## Fail when gen/ differs from what the spec produces, or go.mod is untidy; changes nothing.
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for cfg in $(GEN_CONFIGS); do \
		sed "s#^output: gen/#output: $$tmp/gen/#" openapi/$$cfg.cfg.yaml > "$$tmp/$$cfg.cfg.yaml" && \
		mkdir -p "$$tmp/gen/api" && \
		$(OAPI_CODEGEN) -config "$$tmp/$$cfg.cfg.yaml" openapi/openapi.yaml || exit 1; \
	done && \
	if ! diff -r "$$tmp/gen" gen; then echo "gen/ is stale: run 'make generate' and commit the result"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is untidy: run 'go mod tidy' and commit"; exit 1; }

.PHONY: build
build: ## Build the binary into bin/.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BINARY) ./cmd/onboarding-service

.PHONY: run
run: build ## Serve on 127.0.0.1:8082 with SQLite under ./data and the demo fixture loaded.
	@mkdir -p $(RUN_DATA)
	@$(RUN_ENV) $(BINARY) migrate
	@$(RUN_ENV) $(BINARY) seed examples/demo-fixture.json
	@$(RUN_ENV) $(BINARY) token --org org_abc123 --ttl 24h --print-curl
	@$(RUN_ENV) exec $(BINARY) serve

# The race detector needs cgo and a C compiler; without them tests run without it.
RACE ?= $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC)" >/dev/null 2>&1 && echo -race)

.PHONY: test
test: ## Run every test, then the black-box suite again on the argo engine (PostgreSQL and Redis tests run when their URLs are set).
	$(GO) test $(RACE) -count=1 -timeout 40m ./...
	ONBOARDING_TEST_ENGINE=argo-fake $(GO) test $(RACE) -count=1 -timeout 20m ./tests/

.PHONY: lint
lint: ## Check formatting and run go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: clean
clean: ## Remove the binary and the demo database.
	rm -rf bin $(RUN_DATA)
