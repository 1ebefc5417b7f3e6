# syntax=docker/dockerfile:1
# One image for both processes of deployunits.
#
#   operator (default):  docker run IMAGE --standalone
#   REST shim:           docker run --entrypoint deployunits-shim IMAGE
#   in Kubernetes:       manifests/deployment.yaml runs the operator with args ["--standalone"]
#                        and the shim with command ["deployunits-shim"]
#
# The runtime stage has no compiler and no build tools, runs as a numeric non-root user and
# writes nothing to its file system (readOnlyRootFilesystem: true works); the shim alone needs a
# writable /tmp for large uploads, which the Deployment mounts as an emptyDir.

ARG PYTHON_IMAGE=python:3.11-slim

# Builder: the project's wheel and a wheel of every dependency, so that the runtime stage
# installs from local files only and never builds anything.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# The console's page is built with Node.js before the image (`make console`): the image has none.
RUN test -f operator/deployunits/api/console/static/index.html \
 || { echo "the console is not built: run 'make console' first" >&2; exit 1; }
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m pip wheel --only-binary=:all: --wheel-dir /wheels /wheels/deployunits-*.whl

# Runtime: python:3.11-slim, a virtual environment with the wheels, and nothing else.
FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    PATH=/opt/deployunits/bin:$PATH
RUN groupadd --system --gid 65532 deployunits \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin deployunits
# Byte code is compiled here, at install time, so nothing is written when the processes start.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/deployunits \
 && /opt/deployunits/bin/pip install --no-index --find-links=/wheels --only-binary=:all: \
      --compile deployunits \
 && /opt/deployunits/bin/pip uninstall --yes pip setuptools
LABEL org.opencontainers.image.title="deployunits" \
      org.opencontainers.image.description="Operator and REST shim for BPMN/DMN/kjar deployment units" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["deployunits-operator"]
CMD ["--standalone"]
