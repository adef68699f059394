# cheiron's two entry points are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# Use the machine's Python: uv must never try to download an interpreter.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= python3
RUN := $(UV) run --frozen --no-sync
PYTEST_ARGS ?=

.PHONY: help bootstrap sync controlplane helm registry-tools node-tools monitoring-tools image lint typecheck unit integration e2e test demo demo-api crds monitoring clean

help:
	@echo "make demo          Pods stuck in ImagePullBackOff start once cheiron is installed (root)"
	@echo "make demo-api      cheiron on a control plane alone: the samples, no node (no root)"
	@echo "make test          install everything, lint, type-check and run all tests"
	@echo "make controlplane  build the control plane and the node's binaries (cached)"
	@echo "make helm          build the pinned helm that tests the chart (cached)"
	@echo "make image         build the operator image without Docker (root; base layer cached)"
	@echo "make lint | typecheck | unit | integration | e2e"

$(UV):
	bash hack/bootstrap.sh $(UV_VERSION)

# .venv/.synced tracks uv.lock so an unchanged lock costs nothing on the next run.
.venv/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen
	touch $@

bootstrap: $(UV)
sync: .venv/.synced

controlplane:
	bash hack/controlplane/ensure-go.sh bash hack/controlplane/build.sh

# docker-registry and skopeo for the registry tests; installs only what is missing.
registry-tools:
	bash hack/registry/ensure-tools.sh

# Debian's prometheus (promtool and the server) for the alert and dashboard tests.
monitoring-tools:
	bash hack/prometheus/ensure-tools.sh

# containerd, runc, CNI plugins, busybox-static for the local node; installs only what is missing.
node-tools:
	bash hack/node/ensure-tools.sh

helm:
	bash hack/controlplane/ensure-go.sh bash hack/helm/build.sh

# What the Dockerfile builds, without a Docker engine: .tools/image/cheiron.tar (OCI archive).
image: $(UV)
	bash hack/image/build.sh

# lint-imports: the layer contracts in pyproject.toml ([tool.importlinter]).
lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports

typecheck: sync
	$(RUN) mypy --strict cheiron

# tests/unit/config renders config/ with the control plane's kubectl and charts/ with helm.
unit: sync controlplane helm monitoring-tools
	$(RUN) pytest tests/unit $(PYTEST_ARGS)

integration: sync controlplane helm registry-tools monitoring-tools
	$(RUN) pytest tests/integration $(PYTEST_ARGS)

# The real node needs root (containers, mounts, cgroups, iptables).
e2e: sync controlplane helm registry-tools node-tools image
	$(RUN) pytest tests/e2e $(PYTEST_ARGS)

test: sync controlplane helm registry-tools node-tools monitoring-tools image lint typecheck
	$(RUN) pytest tests $(PYTEST_ARGS)

# The chart carries copies of the CRDs (tests/unit/config/test_chart.py keeps them equal).
crds: sync
	$(RUN) cheiron crds --write config/crd/bases
	$(RUN) cheiron crds --write charts/cheiron/crds

# The Grafana dashboard (chart and config/prometheus) and the kustomize copy of the alerts.
monitoring: sync helm
	$(RUN) python hack/monitoring.py

# A real node, a private registry, cheiron from its chart (README "make demo").
demo: sync controlplane helm registry-tools node-tools image
	PYTHONPATH=$(CURDIR) $(RUN) python hack/demo.py

demo-api: sync controlplane
	$(RUN) bash hack/demo-api.sh

clean:
	rm -rf .venv $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
