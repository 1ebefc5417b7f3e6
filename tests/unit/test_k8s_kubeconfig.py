"""Reading kubeconfigs and the Pod's service account, as kubectl reads them."""

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployunits.k8s.connection import Connection
from deployunits.k8s.kubeconfig import KubeconfigError, load

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def write(path: Path, *, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "contexts": [{"name": "dev", "context": {"cluster": "plane", "user": "admin"}}],
        "clusters": [
            {"name": "plane", "cluster": cluster or {"server": "https://127.0.0.1:6443/"}}
        ],
        "users": [{"name": "admin", "user": user}],
    }
    path.write_text(yaml.safe_dump(document))
    return path


def test_relative_certificate_paths_are_read_from_the_kubeconfigs_folder(tmp_path: Path) -> None:
    config = write(
        tmp_path / "config",
        user={"client-certificate": "pki/admin.crt", "client-key": "/abs/admin.key"},
        cluster={"server": "https://127.0.0.1:6443/", "certificate-authority": "pki/ca.crt"},
    )
    found = load(str(config))
    assert found.server == "https://127.0.0.1:6443"
    assert found.ca_file == str(tmp_path / "pki/ca.crt")
    assert found.cert_file == str(tmp_path / "pki/admin.crt")
    assert found.key_file == "/abs/admin.key"
    assert found.verify and found.token is None


def test_certificate_data_lands_in_private_files(tmp_path: Path) -> None:
    encoded = base64.b64encode(PEM).decode()
    config = write(
        tmp_path / "config",
        user={"client-certificate-data": encoded, "client-key-data": encoded},
        cluster={"server": "https://h:1", "certificate-authority-data": encoded},
    )
    found = load(str(config))
    for written in (found.ca_file, found.cert_file, found.key_file):
        assert written is not None
        assert Path(written).read_bytes() == PEM
        assert stat.S_IMODE(Path(written).stat().st_mode) == 0o600


def test_a_token_and_insecure_skip_tls_verify(tmp_path: Path) -> None:
    config = write(
        tmp_path / "config",
        user={"token": "abc"},
        cluster={"server": "https://h:1", "insecure-skip-tls-verify": True},
    )
    connection = Connection.load(str(config))
    assert connection.bearer() == "abc"
    assert connection.ssl_context() is False


def test_a_token_file_is_read_at_each_request(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("first\n")
    connection = Connection.load(str(write(tmp_path / "config", user={"tokenFile": "token"})))
    assert connection.bearer() == "first"
    (tmp_path / "token").write_text("rotated")
    assert connection.bearer() == "rotated"


def test_an_exec_plugin_gives_the_token(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    plugin.write_text(
        "#!/bin/sh\n"
        'test "$MY_ENV" = set || exit 3\n'
        'echo \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",'
        ' "status": {"token": "from-\'"$1"\'"}}\'\n'
    )
    plugin.chmod(0o755)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(plugin),
            "args": ["plugin"],
            "env": [{"name": "MY_ENV", "value": "set"}],
        }
    }
    assert load(str(write(tmp_path / "config", user=user))).token == "from-plugin"


def test_a_failing_exec_plugin_says_why(tmp_path: Path) -> None:
    user = {"exec": {"command": "sh", "args": ["-c", "echo expired >&2; exit 4"]}}
    with pytest.raises(KubeconfigError, match="exited with 4: expired"):
        load(str(write(tmp_path / "config", user=user)))


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"auth-provider": {"name": "gcp"}}, "auth-provider 'gcp'"),
        ({"username": "u", "password": "p"}, "basic auth"),
    ],
)
def test_removed_auth_kinds_are_refused_by_name(
    tmp_path: Path, user: dict[str, Any], message: str
) -> None:
    with pytest.raises(KubeconfigError, match=message):
        load(str(write(tmp_path / "config", user=user)))


def test_kubeconfig_files_merge_the_first_one_winning(tmp_path: Path) -> None:
    first = write(tmp_path / "a", user={"token": "first"})
    second = tmp_path / "b"
    second.write_text(
        yaml.safe_dump(
            {
                "current-context": "other",
                "users": [{"name": "admin", "user": {"token": "second"}}],
            }
        )
    )
    env = {"KUBECONFIG": f"{first}:{second}:{tmp_path / 'missing'}"}
    assert load(environ=env).token == "first"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "is not YAML"),
        ("[]", "is not a mapping"),
        ("kind: Config", "no current-context"),
        ("current-context: x", "no context 'x'"),
        ("current-context: x\ncontexts: [{name: x, context: oops}]", "no known cluster"),
    ],
)
def test_a_broken_explicit_kubeconfig_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "config").write_text(text)
    with pytest.raises(KubeconfigError, match=message):
        load(str(tmp_path / "config"))


def test_a_missing_explicit_kubeconfig_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="cannot read"):
        load(str(tmp_path / "nothing"))


def test_without_kubeconfig_the_pods_service_account(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("pod-token")
    (tmp_path / "ca.crt").write_bytes(PEM)
    env = {
        "HOME": str(tmp_path),
        "KUBERNETES_SERVICE_HOST": "fd00::1",
        "KUBERNETES_SERVICE_PORT": "443",
    }
    found = load(environ=env, service_account=tmp_path)
    assert found.server == "https://[fd00::1]:443"
    assert found.token_file == str(tmp_path / "token")
    assert found.ca_file == str(tmp_path / "ca.crt")


def test_neither_kubeconfig_nor_pod_says_so(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="no kubeconfig found"):
        load(environ={"HOME": str(tmp_path)}, service_account=tmp_path)


def test_the_exec_plugin_is_told_what_it_serves(tmp_path: Path) -> None:
    """KUBERNETES_EXEC_INFO carries the ExecCredential request, as kubectl sends it."""
    seen = tmp_path / "seen.json"
    answer = '{"status": {"token": "t"}}'
    user = {
        "exec": {
            "command": "sh",
            "args": [
                "-c",
                f"printf %s \"$KUBERNETES_EXEC_INFO\" > {seen}; echo '{answer}'",
            ],
        }
    }
    load(str(write(tmp_path / "config", user=user)))
    assert json.loads(seen.read_text())["kind"] == "ExecCredential"
