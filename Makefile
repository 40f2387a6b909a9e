# journey-operator. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

export GOTOOLCHAIN := local
GO ?= go
CONTROLLER_GEN := $(GO) tool controller-gen
IMG ?= ghcr.io/cjm-dev/journey-operator:dev
CHART_DIR := charts/journey-operator
# Ginkgo suites start a real kube-apiserver; give slow machines room.
TEST_TIMEOUT ?= 20m

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Demo

DEMO_DIR ?= demo
DEMO_STORE = sqlite://$(CURDIR)/$(DEMO_DIR)/journey.db

.PHONY: demo
demo: ## A streaming service's journey on your laptop: sample data, lint, ingest, funnel, alerts, the journey map page, a quarantine review and the audit evidence. No cluster.
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/journey .
	rm -rf $(DEMO_DIR)
	bin/journey sample-data --out $(DEMO_DIR) --quiet
	bin/journey lint -f $(DEMO_DIR)
	@asof=$$(sed -n 's/.*"asOf": *"\([^"]*\)".*/\1/p' $(DEMO_DIR)/expected.json | head -1); \
	echo "journey run -f $(DEMO_DIR) --as-of $$asof   (the dataset judged as of its last day)"; \
	bin/journey run -f $(DEMO_DIR) --store $(DEMO_STORE) --as-of $$asof --html $(DEMO_DIR)
	@echo; echo "journey quarantine list   (what the financial source holds for review, and why)"
	bin/journey quarantine list --store $(DEMO_STORE) --source default/billing-stripe --status Pending --limit 8
	@echo; echo "journey review   (a reviewer releases the negative invoices: credit notes; one ledger entry names who and why)"
	bin/journey review --store $(DEMO_STORE) --source default/billing-stripe --check amount-non-negative --decision Release \
	  --reason "credit notes booked as negative invoices; confirmed with AR (FIN-231)" --as carol@example.com
	@echo; echo "journey audit verify   (every entry recomputed from the rows it covers)"
	bin/journey audit verify --store $(DEMO_STORE)
	@echo; echo "journey audit report   (completeness and accuracy: read = accepted + duplicates + quarantined + rejected)"
	bin/journey audit report --store $(DEMO_STORE)
	bin/journey audit report --store $(DEMO_STORE) --output html > $(DEMO_DIR)/audit-report.html
	@echo; echo "Open $(DEMO_DIR)/default-streaming-journey.html for the journey map and $(DEMO_DIR)/audit-report.html for the"
	@echo "audit evidence. Try: bin/journey quarantine show --store $(DEMO_STORE) <ID>"
	@asof=$$(sed -n 's/.*"asOf": *"\([^"]*\)".*/\1/p' $(DEMO_DIR)/expected.json | head -1); \
	echo; echo "To drill into the journey (stages, flows, users, alerts, sources, trends, revenue), serve it and open http://127.0.0.1:8080/:"; \
	echo "  bin/journey serve -f $(DEMO_DIR) --store $(DEMO_STORE) --as-of $$asof"

##@ Development

.PHONY: manifests
manifests: ## Generate CRDs, RBAC and webhook configurations from markers; copy them into the chart.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	mkdir -p $(CHART_DIR)/crds
	rm -f $(CHART_DIR)/crds/*.yaml
	cp config/crd/bases/*.yaml $(CHART_DIR)/crds/
	mkdir -p $(CHART_DIR)/files && cp config/rbac/role.yaml $(CHART_DIR)/files/manager-role.yaml
	cp config/webhook/manifests.yaml $(CHART_DIR)/files/webhook-manifests.yaml

.PHONY: generate
generate: ## Generate DeepCopy methods from markers.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: setup-envtest
setup-envtest: ## Build kube-apiserver, etcd and kubectl for tests (cached in ~/.cache/journey-operator).
	hack/setup-envtest.sh

.PHONY: test-deps
test-deps: ## Install what the tests need when it is missing (Debian's postgresql, chromium, prometheus and prometheus-alertmanager); print what is installed.
	bash hack/postgres.sh
	bash hack/chromium.sh
	bash hack/prometheus.sh
	bash hack/alertmanager.sh

.PHONY: test
test: test-deps manifests generate fmt vet ## Run all tests against a real kube-apiserver + etcd, PostgreSQL, Chromium, Prometheus and Alertmanager.
	assets="$$(hack/setup-envtest.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT)

.PHONY: e2e
e2e: ## The chart on a real single-node cluster built from source (root; hack/e2e.sh; E2E_ARGS go to go test).
	bash hack/e2e.sh $(E2E_ARGS)

.PHONY: verify-generated
verify-generated: manifests generate fmt ## Fail if generated files or formatting differ from what is committed.
	@if [ -n "$$(git status --porcelain)" ]; then \
	  echo "generated files or formatting are out of date; run 'make manifests generate fmt' and commit:"; \
	  git status --porcelain; git --no-pager diff --stat; exit 1; fi

##@ Benchmarks

.PHONY: bench-controlplane
bench-controlplane: build ## 500 sources, 50 rules, 50 maps to Ready vs a plain client; writes at rest; manager RSS.
	assets="$$(hack/setup-envtest.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" $(GO) run ./test/bench/controlplane $(BENCH_ARGS)

.PHONY: bench-ingest
bench-ingest: build ## 1M billing records, 7 checks: records/s vs plain COPY (PostgreSQL) and INSERTs (SQLite); peak RSS.
	bash hack/postgres.sh
	$(GO) run ./test/bench/ingest $(BENCH_ARGS)

.PHONY: bench-journey
bench-journey: ## 10M events / 1M users on PostgreSQL: full and incremental evaluation vs one SQL query.
	bash hack/postgres.sh
	$(GO) run ./test/bench/journey $(BENCH_ARGS)

.PHONY: bench-receive
bench-receive: build ## Stripe deliveries and Segment batches (journey receive), Kafka records (journey consume) vs plain handlers and a plain consumer; peak RSS.
	bash hack/postgres.sh
	$(GO) run ./test/bench/receive $(BENCH_ARGS)

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the journey binary into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/journey .

.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster in ~/.kube/config (without its admission webhooks).
	$(GO) run . manager --metrics-bind-address=0 --health-probe-bind-address=:8081 --enable-webhooks=false

.PHONY: docker-build
docker-build: ## Build the operator image $(IMG) (see Dockerfile).
	docker build -t $(IMG) .

##@ Deployment

KUBECTL ?= kubectl

.PHONY: install
install: manifests ## Install the CRDs into the cluster in ~/.kube/config.
	$(KUBECTL) apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and every journey resource) from the cluster.
	$(KUBECTL) delete --ignore-not-found -f config/crd/bases

##@ Argo CD

.PHONY: argocd-cm
argocd-cm: ## Regenerate config/argocd/argocd-cm.yaml from the health.lua scripts next to it.
	hack/gen-argocd-cm.sh
