#!/usr/bin/env bash
# Builds the project's image (the repository's Dockerfile) without a Docker engine or a registry.
#
#   hack/image/build.sh [IMAGE]        (make image; IMAGE defaults to localhost/deployunits:0.1.0)
#
# 1. podman, buildah, runc and mmdebstrap are installed from Debian's packages when missing;
# 2. the runtime's base, Python 3.11 with its venv module and the CA certificates, is made from
#    Debian's packages with mmdebstrap (the machine's own package sources) and imported with
#    podman, once per recipe: its tag carries a hash of the recipe; the builder's base is the
#    same plus binutils (to strip debug information from the wheels' extensions);
# 3. the Dockerfile, unchanged, is built on them with `--build-arg PYTHON_IMAGE=<runtime base>`
#    and `--build-arg BUILDER_IMAGE=<builder base>`.
#
# The Dockerfile stays the one source of truth: `docker build .` builds the same file on the
# public python:3.11-slim. Prints the image's size and digest.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${1:-localhost/deployunits:0.1.0}
SUITE=bookworm
# Python 3.11 (bookworm's) and the venv module both stages use, and the CA bundle TLS clients
# need. merged-usr sets up /usr without the usrmerge package (which would pull in perl);
# documentation, manuals and translations are left out, and glibc's iconv converters (8 MB;
# Python's codecs are its own).
BASE_PACKAGES=python3,python3-venv,ca-certificates
BASE_RECIPE=(
  --variant=essential
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --aptopt='APT::Install-Recommends "false"'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/lib/*/gconv/*'
  "$SUITE"
)
# podman as it works on these machines: runc (crun refuses hybrid cgroups), cgroupfs, and
# ulimits within the machine's hard limits (podman's defaults ask for more and fail).
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
ULIMITS=(--ulimit nofile=1024:4096 --ulimit nproc=1024:2048)
# The machine's CA bundle: PyPI is reached through it only (a proxy may sign for it).
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

install_tools() {
  local missing=()
  for tool in podman buildah runc mmdebstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "installing ${missing[*]} from Debian's packages ..." >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman buildah runc mmdebstrap uidmap >/dev/null
}

# ensure_base NAME PACKAGES: the base NAME (tagged with the recipe's hash) made with PACKAGES,
# once; its tag in BASE.
ensure_base() {
  local name=$1 recipe=(--include="$2" "${BASE_RECIPE[@]}") hash
  hash=$(printf '%s\n' "${recipe[@]}" | sha256sum | cut -c1-12)
  BASE="localhost/$name:$SUITE-$hash"
  if "${PODMAN[@]}" image exists "$BASE"; then
    return
  fi
  echo "making the base $BASE from Debian's packages (mmdebstrap) ..." >&2
  local tarball
  tarball=$(mktemp --suffix=.tar)
  trap 'rm -f "$tarball"' RETURN
  # Its hooks talk a lot; the log is shown only when it fails.
  if ! mmdebstrap "${recipe[@]}" "$tarball" >"$tarball.log" 2>&1; then
    tail -40 "$tarball.log" >&2
    exit 1
  fi
  rm -f "$tarball.log"
  "${PODMAN[@]}" import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    "$tarball" "$BASE" >/dev/null
}

install_tools
ensure_base deployunits-base "$BASE_PACKAGES"
RUNTIME_BASE=$BASE
ensure_base deployunits-builder "$BASE_PACKAGES,binutils"
BUILDER_BASE=$BASE
echo "building $IMAGE on $RUNTIME_BASE (builder: $BUILDER_BASE) ..." >&2
"${PODMAN[@]}" build --quiet --network host "${ULIMITS[@]}" \
  --volume "$CA_BUNDLE:$CA_BUNDLE:ro" \
  --build-arg "PYTHON_IMAGE=$RUNTIME_BASE" \
  --build-arg "BUILDER_IMAGE=$BUILDER_BASE" \
  --tag "$IMAGE" --file "$REPO/Dockerfile" "$REPO" >/dev/null
size=$("${PODMAN[@]}" image inspect "$IMAGE" --format '{{.Size}}')
digest=$("${PODMAN[@]}" image inspect "$IMAGE" --format '{{.Digest}}')
echo "$IMAGE: $((size / 1048576)) MiB ($size bytes), digest $digest"
