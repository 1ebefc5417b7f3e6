"""Reads a kubeconfig, or the Pod's service account, into a `Connection`: where the API server
is and how to authenticate to it.

What the project needs of kubeconfigs, without the official client (58 MiB in the image): the
current context (or a named one), its cluster's server, CA (file or data) and
`insecure-skip-tls-verify`, and its user's client certificate and key (files or data), token,
`tokenFile`, or `exec` credential plugin (client.authentication.k8s.io, as `kubectl` runs it).
Several files in `$KUBECONFIG` merge as kubectl merges them: the first file to name a context,
cluster or user wins. Relative paths are relative to the file that holds them. Certificate and
key data are written to private temporary files, since TLS libraries load them from files.
Refused: basic auth and the removed `auth-provider` plugins, each with a clear message.
"""

import base64
import binascii
import json
import os
import ssl
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Where a Pod's service account lives.
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: How long an exec credential plugin may take (cloud CLIs fetch a token over the network).
EXEC_TIMEOUT = 60.0


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used, or no way to reach an API server."""


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to authenticate to it: the server, TLS files, and a
    token or token file."""

    server: str
    ca_file: str | None = None
    verify: bool = True
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None

    @classmethod
    def load(cls, kubeconfig: str | None = None) -> "Connection":
        """From a kubeconfig (explicit, $KUBECONFIG or ~/.kube/config) or the Pod's account."""
        return load(kubeconfig)

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def bearer(self) -> str | None:
        if self.token_file:
            # Projected tokens rotate; reading the file each time picks up the new one.
            with open(self.token_file) as handle:
                return handle.read().strip()
        return self.token


def load(
    kubeconfig: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    service_account: Path = SERVICE_ACCOUNT,
) -> Connection:
    """From `kubeconfig`, else the files of $KUBECONFIG or ~/.kube/config, else the Pod's
    service account. An explicit kubeconfig that cannot be read is an error, never a fallback."""
    env = os.environ if environ is None else environ
    if kubeconfig:
        return from_files([Path(kubeconfig)])
    named = env.get("KUBECONFIG", "")
    paths = [Path(p) for p in named.split(os.pathsep) if p] if named else []
    if not paths:
        paths = [Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"]
    existing = [path for path in paths if path.is_file()]
    if existing:
        return from_files(existing)
    return in_cluster(env, service_account)


def in_cluster(env: Mapping[str, str], service_account: Path = SERVICE_ACCOUNT) -> Connection:
    """The Pod's service account: the API server's Service from the environment, its token
    file (read at each request, as projected tokens rotate) and CA."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    token = service_account / "token"
    if not host or not port or not token.is_file():
        raise KubeconfigError(
            "no kubeconfig found (none given, $KUBECONFIG unset or empty, no ~/.kube/config) "
            "and not running in a Pod with a service account"
        )
    server_host = f"[{host}]" if ":" in host else host
    ca = service_account / "ca.crt"
    return Connection(
        server=f"https://{server_host}:{port}",
        ca_file=str(ca) if ca.is_file() else None,
        token_file=str(token),
    )


def from_files(paths: list[Path]) -> Connection:
    """The current context of the merged files."""
    merged: dict[str, dict[str, tuple[dict[str, Any], Path]]] = {
        "clusters": {},
        "users": {},
        "contexts": {},
    }
    current: str | None = None
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text())
        except OSError as error:
            raise KubeconfigError(f"cannot read the kubeconfig {path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise KubeconfigError(f"the kubeconfig {path} is not YAML: {error}") from None
        document = {} if document is None else document
        if not isinstance(document, dict):
            raise KubeconfigError(f"the kubeconfig {path} is not a mapping")
        current = current or document.get("current-context") or None
        for kind, entries in merged.items():
            for item in document.get(kind) or []:
                name = item.get("name") if isinstance(item, dict) else None
                value = item.get(kind[:-1]) if isinstance(item, dict) else None
                if name and name not in entries:
                    entries[name] = (value if isinstance(value, dict) else {}, path.parent)
    where = ", ".join(str(p) for p in paths)
    if not current:
        raise KubeconfigError(f"the kubeconfig ({where}) has no current-context")
    if current not in merged["contexts"]:
        raise KubeconfigError(f"the kubeconfig ({where}) has no context {current!r}")
    context, _ = merged["contexts"][current]
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if cluster_name not in merged["clusters"]:
        raise KubeconfigError(f"context {current!r} names no known cluster ({cluster_name!r})")
    cluster, cluster_dir = merged["clusters"][cluster_name]
    user, user_dir = merged["users"].get(str(user_name), ({}, Path(".")))
    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise KubeconfigError(f"cluster {cluster_name!r} has no server")
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    ca_file = _file_or_data(cluster, "certificate-authority", cluster_dir, "ca.crt")
    return _user_credentials(
        user, user_dir, str(user_name), server=server, ca_file=ca_file, verify=not insecure
    )


def _user_credentials(user: Mapping[str, Any], base: Path, name: str, **cluster: Any) -> Connection:
    if user.get("auth-provider"):
        provider = user["auth-provider"].get("name", "?")
        raise KubeconfigError(
            f"user {name!r} uses the auth-provider {provider!r}, which Kubernetes removed: use "
            "its exec credential plugin instead"
        )
    if user.get("username") or user.get("password"):
        raise KubeconfigError(f"user {name!r} uses basic auth, which Kubernetes no longer serves")
    cert = _file_or_data(user, "client-certificate", base, "client.crt")
    key = _file_or_data(user, "client-key", base, "client.key")
    token = user.get("token")
    token_file = user.get("tokenFile")
    if user.get("exec"):
        status = _run_exec(user["exec"], name)
        token = status.get("token") or token
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            cert = _private_file(str(status["clientCertificateData"]).encode(), "client.crt")
            key = _private_file(str(status["clientKeyData"]).encode(), "client.key")
    return Connection(
        cert_file=cert,
        key_file=key,
        token=str(token) if token else None,
        token_file=str(_resolve(base, token_file)) if token_file and not token else None,
        **cluster,
    )


def _run_exec(spec: Mapping[str, Any], user: str) -> dict[str, Any]:
    """Run an exec credential plugin and return its ExecCredential's status."""
    command = spec.get("command")
    if not command:
        raise KubeconfigError(f"user {user!r}: exec has no command")
    env = dict(os.environ)
    env.update({str(e["name"]): str(e["value"]) for e in spec.get("env") or []})
    api_version = spec.get("apiVersion", "client.authentication.k8s.io/v1")
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
    )
    try:
        done = subprocess.run(
            [str(command), *(str(a) for a in spec.get("args") or [])],
            env=env,
            capture_output=True,
            timeout=EXEC_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise KubeconfigError(f"user {user!r}: exec plugin {command!r} failed: {error}") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()[-500:]
        raise KubeconfigError(
            f"user {user!r}: exec plugin {command!r} exited with {done.returncode}: {said}"
        )
    try:
        status = json.loads(done.stdout)["status"]
    except (ValueError, KeyError, TypeError):
        raise KubeconfigError(
            f"user {user!r}: exec plugin {command!r} printed no ExecCredential status"
        ) from None
    if not isinstance(status, dict):
        raise KubeconfigError(f"user {user!r}: exec plugin {command!r}: status is not an object")
    return status


def _file_or_data(entry: Mapping[str, Any], key: str, base: Path, name: str) -> str | None:
    """`key` (a path, relative to the kubeconfig's folder) or `key-data` (base64 PEM, written to
    a private temporary file)."""
    data = entry.get(f"{key}-data")
    if data:
        try:
            return _private_file(base64.b64decode(str(data), validate=True), name)
        except (binascii.Error, ValueError):
            raise KubeconfigError(f"{key}-data is not base64") from None
    path = entry.get(key)
    return str(_resolve(base, str(path))) if path else None


def _resolve(base: Path, path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def _private_file(content: bytes, name: str) -> str:
    """A file only this user can read (mkstemp's mode 0600) in the temporary folder, which the
    Deployment mounts writable; it is read once, at start-up, as the official client does."""
    handle, path = tempfile.mkstemp(prefix="deployunits-", suffix=f"-{name}")
    with os.fdopen(handle, "wb") as out:
        out.write(content)
    return path
