# deployunits: `make run` starts everything locally, `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CLUSTER ?= embedded
# The engine `make run` starts beside the operator: camunda7 or kie (a KIE Server, jBPM; each
# built once with Maven), or none.
ENGINE ?= camunda7
PYTEST_ARGS ?=
BENCH_ARGS ?=
# The image `make image` builds (podman's local storage; `podman push` it to any registry).
IMAGE ?= localhost/deployunits:0.1.0

.PHONY: help venv controlplane engines helm gitops console browser run lint typecheck unit \
	integration test test-gitops redis drills bench bench-engine image image-test clean

help:
	@echo "make run     start control plane, CRDs, operator, shim and a Camunda 7 engine"
	@echo "             (CLUSTER=existing to use KUBECONFIG, ENGINE=kie for a KIE Server, ENGINE=none for no engine)"
	@echo "make test    ruff, import contracts, mypy --strict, unit tests, integration tests on a real API server"
	@echo "make test-gitops  the real Flux and Argo CD sync examples/gitops (builds them once)"
	@echo "make drills  fault drills: crashes, control-plane restarts, engine faults, load, hostile input"
	@echo "make bench-engine  bound units until EngineSynced vs direct engine creates + unbound units"
	@echo "make image   the image, with podman on a base made from Debian's packages (no Docker, no registry)"
	@echo "make image-test  builds the image and runs it against the embedded control plane"

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

# Builds (once, cached under ~/.cache/deployunits/engines) the Camunda 7 and KIE Server test
# engines with Maven (hack/engines/camunda7, hack/engines/kie).
engines: $(STAMP)
	$(VENV)/bin/deployunits-devcluster engines

# Builds (once, cached under ~/.cache/deployunits) the helm that hack/helm/go.mod pins.
helm: $(STAMP)
	$(VENV)/bin/deployunits-devcluster helm

# Builds (once, cached under ~/.cache/deployunits) Flux's source- and kustomize-controller, Argo CD
# and kustomize from the Go module proxy, for the GitOps tests (tests/integration/test_gitops_*.py).
gitops: $(STAMP)
	$(VENV)/bin/deployunits-devcluster gitops

# The console's page, built with Vite from console/package-lock.json into the Python package, which
# serves it without Node.js. Built again when its sources change; `npm ci` keeps the build reproducible.
CONSOLE_PAGE := operator/deployunits/api/console/static/index.html
$(CONSOLE_PAGE): console/package.json console/package-lock.json console/index.html \
		console/vite.config.ts console/tsconfig.json $(wildcard console/src/*)
	cd console && npm ci --no-audit --no-fund && npm run build

console: $(CONSOLE_PAGE)

# Debian's chromium for the console's browser tests (Playwright drives it, never downloads one).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	test -x $(CHROMIUM) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }

run: $(STAMP) $(CONSOLE_PAGE)
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

integration: controlplane engines helm console browser
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test: lint typecheck unit integration

# Debian's redis-server, Argo CD's cache in the GitOps tests.
redis:
	command -v redis-server >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends redis-server; }

# The real Flux and Argo CD syncing examples/gitops (tests/gitops); .ci/run runs it after `make test`
# when its time budget allows (the one-time build of the controllers takes 10 to 40 minutes).
test-gitops: controlplane engines gitops redis
	$(PY) -m pytest tests/gitops $(PYTEST_ARGS)

# Installs podman, buildah, runc and mmdebstrap from Debian's packages when missing; prints the
# image's size and digest.
image: console
	hack/image/build.sh $(IMAGE)

# The image test, required here (in `make test` it is skipped where podman is missing).
image-test: image controlplane
	DEPLOYUNITS_IMAGE=$(IMAGE) DEPLOYUNITS_IMAGE_TEST=required \
	  $(PY) -m pytest tests/integration/test_image.py -s $(PYTEST_ARGS)

# Not part of `make test`: each drill prints its figures; the report lands in .dev/drills.json.
drills: controlplane engines
	$(PY) -m pytest tests/drills -v -s $(PYTEST_ARGS)

# Not part of `make test`: issue 19's push benchmark, figures only (BENCH_ARGS="--units 200").
bench-engine: controlplane engines
	$(PY) bench/engine_push.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .dev .pytest_cache .mypy_cache .ruff_cache .import_linter_cache \
		console/node_modules operator/deployunits/api/console/static
