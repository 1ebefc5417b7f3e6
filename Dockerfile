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
#
# PYTHON_IMAGE selects the runtime's base: any image with Python 3.11 and its venv module.
# BUILDER_IMAGE (the same by default) is the builder's: the same Python at the same path, which
# may also carry binutils' `strip`. `docker build .` takes the public python:3.11-slim for both;
# `make image` (hack/image/build.sh) builds this same file, without a Docker engine or a
# registry, on two bases made from Debian's packages (the builder's with binutils).

ARG PYTHON_IMAGE=python:3.11-slim
ARG BUILDER_IMAGE=${PYTHON_IMAGE}

# Builder: the project's wheel and a wheel of every dependency, installed into the virtual
# environment the runtime stage copies; the runtime stage itself never installs or builds anything.
FROM ${BUILDER_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# The console's page is built with Node.js before the image (`make console`): the image has none.
RUN test -f operator/deployunits/api/console/static/index.html \
 || { echo "the console is not built: run 'make console' first" >&2; exit 1; }
# pip from a throw-away venv: a base with Python and its venv module is enough. Byte code is
# compiled here, at install time, so nothing is written when the processes start.
RUN python3 -m venv /build \
 && /build/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /build/bin/pip wheel --only-binary=:all: --wheel-dir /wheels /wheels/deployunits-*.whl \
 && python3 -m venv /opt/deployunits \
 && /opt/deployunits/bin/pip install --no-index --find-links=/wheels --only-binary=:all: \
      --compile deployunits \
 && /opt/deployunits/bin/pip uninstall --yes pip setuptools
# Debug information out of the wheels' extensions: uvloop's alone carries 12 of its 13.6 MB.
# A base without binutils (python:3.11-slim) gets them here; the runtime stage never does.
RUN command -v strip >/dev/null \
 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends binutils >/dev/null; } \
 && find /opt/deployunits -name '*.so' -exec strip --strip-debug {} +

# Runtime: the same base (so the venv's interpreter is where it points), the venv, and nothing
# else: no pip, no wheels, no sources.
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    PATH=/opt/deployunits/bin:$PATH
# The user exists in /etc/passwd for libraries that look the name up; written directly, so that
# the base needs no passwd tools.
RUN echo "deployunits:x:65532:65532:deployunits:/nonexistent:/usr/sbin/nologin" >> /etc/passwd \
 && echo "deployunits:x:65532:" >> /etc/group
COPY --from=builder /opt/deployunits /opt/deployunits
LABEL org.opencontainers.image.title="deployunits" \
      org.opencontainers.image.description="Operator and REST shim for BPMN/DMN/kjar deployment units" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["deployunits-operator"]
CMD ["--standalone"]
