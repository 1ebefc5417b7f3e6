# deployunits: `make run` starts everything locally, `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CLUSTER ?= embedded
# The engine `make run` starts beside the operator: camunda7 (built once with Maven) or none.
ENGINE ?= camunda7
PYTEST_ARGS ?=

.PHONY: help venv controlplane engines gitops run lint typecheck unit integration test drills bench clean

help:
	@echo "make run     start control plane, CRDs, operator, shim and a Camunda 7 engine"
	@echo "             (CLUSTER=existing to use KUBECONFIG, ENGINE=none to leave the engine out)"
	@echo "make test    ruff, import contracts, mypy --strict, unit tests, integration tests on a real API server"
	@echo "make drills  fault drills: crashes, control-plane restarts, load, hostile input (~7 min)"

# The dev kit (hack/devcluster: the control plane, `make run`, what tests and benchmarks share) is a
# distribution of its own, so that the image, which installs only the root project, carries none of it.
$(STAMP): pyproject.toml hack/devcluster/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -e ./hack/devcluster
	touch $(STAMP)

venv: $(STAMP)

# Builds (once, cached under ~/.cache/deployunits) kube-apiserver, kube-controller-manager and etcd.
controlplane: $(STAMP)
	$(VENV)/bin/deployunits-devcluster build

# Builds (once, cached under ~/.cache/deployunits/engines) the Camunda 7 test engine with Maven.
engines: $(STAMP)
	$(VENV)/bin/deployunits-devcluster engines

# Builds (once, cached under ~/.cache/deployunits) Flux's source- and kustomize-controller, Argo CD
# and kustomize from the Go module proxy, for the GitOps tests (tests/integration/test_gitops_*.py).
gitops: $(STAMP)
	$(VENV)/bin/deployunits-devcluster gitops

run: $(STAMP)
	$(VENV)/bin/deployunits-devcluster run --cluster $(CLUSTER) --engine $(ENGINE)

# lint-imports checks the layers and gateways of [tool.importlinter] in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: controlplane engines gitops
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test: lint typecheck unit integration

# Not part of `make test`: each drill prints its figures; the report lands in .dev/drills.json.
drills: controlplane
	$(PY) -m pytest tests/drills -v -s $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .dev .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
