"""The operator and the shim work with only the rights manifests/ gives their ServiceAccount.

A control plane of its own (so no other operator of the session answers for ours) gets the whole
base installed for real with `kubectl apply -k manifests/`. A token of the ServiceAccount
(`kubectl create token`) goes into a kubeconfig with the plane's server and CA; the operator and
the shim then run as that account and nothing else.

Matrix:
- the token authenticates as system:serviceaccount:deployunits-system:deployunits;
- operator: an inline unit and a ConfigMap unit become Ready (kubectl wait), a unit with a
  duplicate resource name is Stalled, a Redeploy creates a new unit and is deleted after its
  TTL, and the operator's log shows no refused request;
- shim: /healthz and /readyz answer 200; a caller with the view role counts deployments over
  REST (TokenReview and SubjectAccessReview through system:auth-delegator), a caller without
  rights gets 403 and no token 401; the console shows the view role's caller a unit and its page
  with its Events, and nothing to a caller without rights; the shim's log shows no refused request;
- operator: a unit bound to a ProcessEngine (credentials in a Secret) reaches the real engine;
- the account may do what the processes need (kubectl auth can-i; a Secret only by name) and
  nothing of a list of things it must not (listing Secrets, Pods, RBAC, updates,
  impersonation).
"""

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from devcluster.binaries import BinariesUnavailable
from devcluster.plane import die_with_parent, free_port
from devcluster.processes import OperatorProcess, wait_for
from tests.support.cluster import Cluster, embedded_cluster
from tests.support.console import apply_unit, drawn_process
from tests.support.engine import RunningEngine, add_engine, add_unit, call
from tests.support.models import bpmn
from tests.support.units import config_map, deployment_unit, redeploy

REPO = Path(__file__).resolve().parents[2]
INSTALL_NAMESPACE = "deployunits-system"
ACCOUNT = "deployunits"
USERNAME = f"system:serviceaccount:{INSTALL_NAMESPACE}:{ACCOUNT}"

BPMN = (
    '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
    'targetNamespace="urn:t"><process id="p" isExecutable="true"/></definitions>'
)


@dataclass
class Installed:
    """A plane with the base installed, and a kubeconfig of the Pod's ServiceAccount."""

    cluster: Cluster
    account_kubeconfig: Path


def token_kubeconfig(admin_kubeconfig: Path, token: str, target: Path) -> Path:
    """A kubeconfig with the admin one's server and CA, authenticating with a bearer token."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    [entry] = admin["clusters"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "plane", "cluster": entry["cluster"]}],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": ACCOUNT, "context": {"cluster": "plane", "user": ACCOUNT}}],
        "current-context": ACCOUNT,
    }
    target.write_text(yaml.safe_dump(config))
    target.chmod(0o600)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A fresh plane with `kubectl apply -k manifests/` applied, and the account's kubeconfig."""
    try:
        cluster = embedded_cluster()
    except BinariesUnavailable as error:
        pytest.skip(f"no embedded control plane: {error}")
    try:
        cluster.kubectl("apply", "--server-side", "-k", str(REPO / "manifests"))
        cluster.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/deploymentunits.bpm.deployunits.io",
            "crd/redeploys.bpm.deployunits.io",
        )
        token = cluster.kubectl(
            "create", "token", ACCOUNT, "-n", INSTALL_NAMESPACE, "--duration=2h"
        ).stdout.strip()
        kubeconfig = token_kubeconfig(
            cluster.kubeconfig, token, tmp_path_factory.mktemp("account") / "kubeconfig"
        )
        yield Installed(cluster, kubeconfig)
    finally:
        assert cluster.plane is not None
        cluster.plane.stop()


@pytest.fixture(scope="module")
def account_operator(
    installed: Installed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, authenticated as the ServiceAccount."""
    process = OperatorProcess(
        installed.account_kubeconfig, tmp_path_factory.mktemp("operator") / "log"
    )
    process.start()
    yield process
    process.stop()


@dataclass
class Shim:
    """The shim as a subprocess, and where it listens."""

    url: str
    log: Path
    popen: subprocess.Popen[bytes]

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-60:])


def get(url: str, token: str | None = None) -> tuple[int, str]:
    """GET a URL; the status code and body, for errors too."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


@pytest.fixture(scope="module")
def account_shim(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shim]:
    """The shim in auth mode kubernetes, authenticated as the ServiceAccount."""
    port = free_port()
    log = tmp_path_factory.mktemp("shim") / "log"
    env = {
        **os.environ,
        "DEPLOYUNITS_KUBECONFIG": str(installed.account_kubeconfig),
        "DEPLOYUNITS_HOST": "127.0.0.1",
        "DEPLOYUNITS_PORT": str(port),
        "DEPLOYUNITS_AUTH_MODE": "kubernetes",
        "DEPLOYUNITS_NAMESPACE": INSTALL_NAMESPACE,
    }
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [str(Path(sys.executable).parent / "deployunits-shim")],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    shim = Shim(f"http://127.0.0.1:{port}", log, popen)

    def healthy() -> bool:
        if popen.poll() is not None:
            raise AssertionError(f"shim exited with {popen.returncode}:\n{shim.tail()}")
        try:
            return get(f"{shim.url}/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(healthy, 60, "shim /healthz")
        yield shim
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


@pytest.fixture
def namespace(installed: Installed) -> Iterator[str]:
    """A fresh namespace on the module's own plane."""
    with installed.cluster.scratch_namespace("sa") as name:
        yield name


# Not a log line's milliseconds (",403").
_REFUSED = re.compile(r"(?<!,)\b403\b|forbidden|not enough permissions", re.IGNORECASE)


def refused_requests(log: str) -> list[str]:
    """Log lines that tell of a request the API server refused (403) for want of a right (an
    Event in a namespace being deleted is refused for that, not for RBAC)."""
    return [
        line
        for line in log.splitlines()
        if _REFUSED.search(line) and "because it is being terminated" not in line
    ]


def test_token_authenticates_as_the_service_account(installed: Installed) -> None:
    found = installed.cluster.kubectl(
        "auth", "whoami", "-o", "json", kubeconfig=installed.account_kubeconfig
    ).stdout
    assert json.loads(found)["status"]["userInfo"]["username"] == USERNAME


class TestOperator:
    """The operator reconciles with the account's rights alone."""

    def test_units_become_ready_and_failures_stall(
        self, installed: Installed, account_operator: OperatorProcess, namespace: str
    ) -> None:
        cluster = installed.cluster
        cluster.apply_objects(
            namespace,
            deployment_unit("inline", inline={"p.bpmn": BPMN}),
            config_map("sources", {"p.bpmn": BPMN}),
            deployment_unit("from-config-map", config_maps=["sources"]),
            deployment_unit("twice", inline=[("p.bpmn", BPMN), ("p.bpmn", BPMN)]),
        )
        for name, condition in (
            ("inline", "Ready"),
            ("from-config-map", "Ready"),
            ("twice", "Stalled"),
        ):
            cluster.wait_condition(name, namespace, condition, account_operator)
        assert cluster.get("du", "twice", namespace)["status"]["status"] == "DEPLOY_FAILED"
        # Snapshots were stored with the account's rights (created, owned by the unit).
        snapshots = json.loads(
            cluster.kubectl(
                "get",
                "configmaps",
                "-n",
                namespace,
                "-l",
                "app.kubernetes.io/managed-by=deployunits",
                "-o",
                "json",
            ).stdout
        )["items"]
        assert snapshots, "no snapshot ConfigMap was written"
        refused = refused_requests(account_operator.log.read_text(errors="replace"))
        assert not refused, "\n".join(refused)

    def test_a_bound_unit_reaches_its_engine(
        self,
        installed: Installed,
        account_operator: OperatorProcess,
        namespace: str,
        camunda7: RunningEngine,
    ) -> None:
        cluster = installed.cluster
        add_engine(cluster, namespace, camunda7)
        cluster.wait_condition("camunda", namespace, "Ready", account_operator, kind="pe")
        add_unit(cluster, namespace, "bound", {"bound.bpmn": bpmn("sa_bound").encode()})
        unit = cluster.wait_condition("bound", namespace, "EngineSynced", account_operator)
        deployment_id = unit["status"]["engine"]["deploymentId"]
        assert call(camunda7.connection(), lambda c: c.deployment(deployment_id)) is not None
        refused = refused_requests(account_operator.log.read_text(errors="replace"))
        assert not refused, "\n".join(refused)

    def test_redeploy_creates_a_unit_and_is_removed_after_its_ttl(
        self, installed: Installed, account_operator: OperatorProcess, namespace: str
    ) -> None:
        cluster = installed.cluster
        cluster.apply_objects(namespace, deployment_unit("original", inline={"p.bpmn": BPMN}))
        cluster.kubectl(
            "wait", "--for=condition=Ready", "--timeout=60s", "du/original", "-n", namespace
        )
        cluster.apply_objects(
            namespace,
            redeploy("again", "original-1", resourceNames=["p.bpmn"], ttlSecondsAfterFinished=0),
        )
        result = cluster.kubectl(
            "wait", "--for=delete", "--timeout=60s", "redeploy/again", "-n", namespace, check=False
        )
        assert result.returncode == 0, f"{result.stderr}\noperator log:\n{account_operator.tail()}"
        names = cluster.kubectl(
            "get", "du", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}"
        ).stdout.split()
        assert len(names) == 2 and "original" in names, names
        refused = refused_requests(account_operator.log.read_text(errors="replace"))
        assert not refused, "\n".join(refused)


class TestShim:
    """The shim serves and authorizes callers with the account's rights alone."""

    def test_probes_answer(self, account_shim: Shim) -> None:
        assert get(f"{account_shim.url}/healthz")[0] == 200
        status, body = get(f"{account_shim.url}/readyz")
        assert status == 200, f"{body}\nshim log:\n{account_shim.tail()}"

    def test_callers_are_authenticated_and_authorized(
        self, installed: Installed, account_shim: Shim, namespace: str
    ) -> None:
        cluster = installed.cluster
        for caller in ("reader", "nobody"):
            cluster.kubectl("create", "serviceaccount", caller, "-n", namespace)
        # The view role aggregates into the built-in view role on a real cluster; the plane runs
        # no aggregation controller, so bind it directly.
        cluster.kubectl(
            "create",
            "rolebinding",
            "reader",
            "--clusterrole=deployunits-view",
            f"--serviceaccount={namespace}:reader",
            "-n",
            namespace,
        )

        def token(caller: str) -> str:
            return cluster.kubectl("create", "token", caller, "-n", namespace).stdout.strip()

        url = f"{account_shim.url}/engine-rest/engine/{namespace}/deployment/count"
        status, body = get(url, token("reader"))
        assert status == 200, f"{body}\nshim log:\n{account_shim.tail()}"
        assert json.loads(body) == {"count": 0}
        assert get(url, token("nobody"))[0] == 403
        assert get(url)[0] == 401
        # The console shows the namespace's unit to the reader, and nothing to a caller without
        # rights; the unit's page reads its Events with the account's rights.
        apply_unit(cluster, namespace, "seen", {"seen.bpmn": drawn_process("seen")})
        console = f"{account_shim.url}/console/api/units"

        def listed(caller: str) -> bool:
            status, body = get(console, token(caller))
            assert status == 200, f"{body}\nshim log:\n{account_shim.tail()}"
            return any(u["name"] == "seen" for u in json.loads(body)["units"])

        wait_for(lambda: listed("reader"), 30, "the unit in the reader's console")
        assert not listed("nobody")
        status, body = get(f"{console}/{namespace}/seen", token("reader"))
        assert status == 200, f"{body}\nshim log:\n{account_shim.tail()}"
        assert json.loads(body)["eventsError"] is None
        refused = refused_requests(account_shim.log.read_text(errors="replace"))
        assert not refused, "\n".join(refused)


#: What the account must be able to do (verb, resource[/subresource]), cluster-wide.
NEEDED = [
    ("list", "deploymentunits.bpm.deployunits.io"),
    ("watch", "deploymentunits.bpm.deployunits.io"),
    ("create", "deploymentunits.bpm.deployunits.io"),
    ("patch", "deploymentunits.bpm.deployunits.io"),
    ("delete", "deploymentunits.bpm.deployunits.io"),
    ("patch", "deploymentunits.bpm.deployunits.io/status"),
    ("watch", "redeploys.bpm.deployunits.io"),
    ("create", "redeploys.bpm.deployunits.io"),
    ("delete", "redeploys.bpm.deployunits.io"),
    ("patch", "redeploys.bpm.deployunits.io/status"),
    ("get", "configmaps"),
    ("create", "configmaps"),
    ("create", "events"),
    ("list", "events"),
    ("get", "namespaces"),
    ("list", "processengines.bpm.deployunits.io"),
    ("watch", "processengines.bpm.deployunits.io"),
    ("get", "processengines.bpm.deployunits.io"),
    ("patch", "processengines.bpm.deployunits.io/status"),
    ("get", "secrets"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "tokenreviews.authentication.k8s.io"),
    ("create", "subjectaccessreviews.authorization.k8s.io"),
]

#: What it must not be able to do.
REFUSED = [
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("update", "processengines.bpm.deployunits.io"),
    ("delete", "processengines.bpm.deployunits.io"),
    ("create", "pods"),
    ("create", "pods/exec"),
    ("create", "deployments.apps"),
    ("update", "deploymentunits.bpm.deployunits.io"),
    ("update", "deploymentunits.bpm.deployunits.io/status"),
    ("update", "configmaps"),
    ("delete", "namespaces"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("impersonate", "users"),
    ("impersonate", "serviceaccounts"),
    ("delete", "events"),
]


def can_i(installed: Installed, verb: str, resource: str) -> bool:
    kind, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    result = installed.cluster.kubectl(
        "auth",
        "can-i",
        verb,
        kind,
        "--all-namespaces",
        *extra,
        kubeconfig=installed.account_kubeconfig,
        check=False,
    )
    return result.stdout.strip() == "yes"


class TestRights:
    """The account's rights as the API server sees them."""

    @pytest.mark.parametrize(("verb", "resource"), NEEDED, ids=lambda v: str(v))
    def test_may(self, installed: Installed, verb: str, resource: str) -> None:
        assert can_i(installed, verb, resource)

    @pytest.mark.parametrize(("verb", "resource"), REFUSED, ids=lambda v: str(v))
    def test_may_not(self, installed: Installed, verb: str, resource: str) -> None:
        assert not can_i(installed, verb, resource)


class TestEngineCredentialsPerNamespace:
    """Without the cluster-wide binding (the component engine-credentials-per-namespace), the
    operator reads engines' Secrets only where a RoleBinding lets it. Last in the module: it
    provokes a refused request on purpose."""

    def test_an_engine_without_the_binding_says_what_to_bind_and_is_ready_once_bound(
        self,
        installed: Installed,
        account_operator: OperatorProcess,
        namespace: str,
        camunda7: RunningEngine,
    ) -> None:
        cluster = installed.cluster
        path = REPO / "manifests" / "rbac" / "engine-credentials.yaml"
        cluster.kubectl("delete", "clusterrolebinding", "deployunits-engine-credentials")
        try:
            add_engine(cluster, namespace, camunda7, resync=5)
            engine = cluster.wait_condition(
                "camunda", namespace, "Stalled", account_operator, kind="pe"
            )
            message = next(c for c in engine["status"]["conditions"] if c["type"] == "Ready")[
                "message"
            ]
            assert "may not read Secret camunda-auth" in message
            assert "deployunits-engine-credentials" in message
            example = (
                REPO / "manifests" / "engine-credentials-per-namespace" / "rolebinding-example.yaml"
            ).read_text()
            bound = example.replace("namespace: team-a", f"namespace: {namespace}")
            cluster.apply(bound, namespace)
            cluster.wait_condition("camunda", namespace, "Ready", account_operator, kind="pe")
        finally:
            cluster.kubectl("apply", "--server-side", "-f", str(path))
