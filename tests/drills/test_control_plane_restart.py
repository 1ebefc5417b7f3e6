"""Drill: kube-apiserver and etcd stop under load and start again; then watches expire (410).

The drill runs on a control plane of its own (restarting the session's would disturb the other
drills), with an operator, a shim (auth none) and a Maven repository for jBPM kjars. Three
clients keep writing: Camunda creates and jBPM deploys through the shim, units through kubectl;
a fourth reads both dialects. Phase one stops kube-apiserver and etcd for a few seconds and
starts them again: while down the shim answers 503 with Retry-After in each dialect's error
shape, never another 5xx; operator and shim reconnect by themselves within 10 seconds; every
accepted job ends deployed. Phase two freezes operator and shim (SIGSTOP), restarts the API
server (a fresh watch cache), writes while they are frozen and compacts etcd, so that their
resumed watches get 410 Gone: both relist and miss nothing, and units changed after the 410 are
still reconciled and shown.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from defusedxml import ElementTree

from deployunits.content.maven import MavenCoordinates
from devcluster import binaries
from devcluster.kjars import build_kjar, jbpm_bpmn
from devcluster.plane import ControlPlane
from devcluster.processes import OperatorProcess, ShimProcess, wait_for
from tests.drills.figures import Figures
from tests.support import jbpm
from tests.support.cluster import Cluster
from tests.support.maven_repo import MavenRepo, maven_repo_fixture  # noqa: F401
from tests.support.models import bpmn

DRILL = "control-plane-restart"
NAMESPACE = "drill"
#: How long kube-apiserver and etcd stay down (seconds), on top of stopping them.
DOWN_SECONDS = 5.0
#: The issue's threshold for operator and shim to work again after the API server is back.
RECONNECT_LIMIT = 10.0
#: Load kept up after the restart, so that writes in flight meet the reconnected processes.
LOAD_AFTER_RESTART = 12.0
#: How long accepted jobs may take to end deployed once the plane is back.
SETTLE_SECONDS = 180.0
#: Units written while operator and shim are frozen (events their watches miss).
MISSED_UNITS = 10
JSON_ACCEPT = {"Accept": "application/json"}
OPERATOR_410 = "Restarting the watch-stream"
SHIM_410 = "expired (410)"
#: The shim lists again after any broken watch (no old resourceVersion is resumed then).
SHIM_RELIST = re.compile(r"watch of \S+/deploymentunits (failed|expired)")


@dataclass(frozen=True)
class Answer:
    """One request of the load and what came back (status 0: the shim did not answer)."""

    kind: str
    started: float
    finished: float
    status: int
    retry_after: str | None
    content_type: str
    text: str
    #: The deployment id of an accepted job (a 200 create, a 202 deploy with success=true).
    accepted: str | None = None


@dataclass
class Load:
    """Writers and a reader that keep calling until stopped; every answer is kept."""

    shim: ShimProcess
    cluster: Cluster
    repo: MavenRepo
    stopped: threading.Event = field(default_factory=threading.Event)
    answers: list[Answer] = field(default_factory=list)
    #: Units kubectl created: name → deploymentId.
    kubectl_units: dict[str, str] = field(default_factory=dict)
    kubectl_failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        loops: list[tuple[str, Callable[[httpx.Client], None]]] = [
            ("camunda-1", self._camunda_create),
            ("camunda-2", self._camunda_create),
            ("jbpm", self._jbpm_deploy),
            ("reader", self._read),
        ]
        for name, step in loops:
            thread = threading.Thread(target=self._loop, args=(step,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        kubectl = threading.Thread(target=self._kubectl_loop, name="kubectl", daemon=True)
        kubectl.start()
        self._threads.append(kubectl)

    def stop(self) -> None:
        self.stopped.set()
        for thread in self._threads:
            thread.join(timeout=90)
            assert not thread.is_alive(), f"load thread {thread.name} hangs"

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def _loop(self, step: Callable[[httpx.Client], None]) -> None:
        with httpx.Client(base_url=self.shim.url, timeout=90) as client:
            while not self.stopped.is_set():
                step(client)
                time.sleep(0.05)

    def _call(
        self, client: httpx.Client, kind: str, method: str, path: str, **kwargs: Any
    ) -> tuple[Answer, httpx.Response | None]:
        started = time.monotonic()
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            answer = Answer(kind, started, time.monotonic(), 0, None, "", repr(error))
            self._keep(answer)
            return answer, None
        answer = Answer(
            kind,
            started,
            time.monotonic(),
            response.status_code,
            response.headers.get("retry-after"),
            response.headers.get("content-type", ""),
            response.text,
        )
        return answer, response

    def _keep(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _camunda_create(self, client: httpx.Client) -> None:
        key = f"p{uuid.uuid4().hex[:10]}"
        answer, response = self._call(
            client,
            "camunda-create",
            "POST",
            "/engine-rest/deployment/create",
            data={"deployment-name": key},
            files={"data": (f"{key}.bpmn", bpmn(key).encode())},
        )
        if response is None:
            return
        if response.status_code == 200:
            answer = _with_accepted(answer, str(response.json()["id"]))
        self._keep(answer)

    def _jbpm_deploy(self, client: httpx.Client) -> None:
        deployment_id = f"org.drill:k{uuid.uuid4().hex[:10]}:1.0"
        publish(self.repo, deployment_id)
        answer, response = self._call(
            client,
            "jbpm-deploy",
            "POST",
            f"{jbpm.PREFIX}/deployment/{deployment_id}/deploy",
            headers=JSON_ACCEPT,
        )
        if response is None:
            return
        if response.status_code == 202 and response.json().get("success") is True:
            answer = _with_accepted(answer, deployment_id)
        self._keep(answer)
        time.sleep(0.15)

    def _read(self, client: httpx.Client) -> None:
        for kind, path, headers in (
            ("camunda-read", "/engine-rest/deployment/count", {}),
            ("jbpm-read", f"{jbpm.PREFIX}/deployment/", JSON_ACCEPT),
        ):
            answer, response = self._call(client, kind, "GET", path, headers=headers)
            if response is not None:
                self._keep(answer)
        time.sleep(0.2)

    def _kubectl_loop(self) -> None:
        while not self.stopped.is_set():
            name = f"k-{uuid.uuid4().hex[:10]}"
            created = create_unit(self.cluster, name, "10s")
            with self._lock:
                if created.returncode == 0:
                    self.kubectl_units[name] = name
                else:
                    self.kubectl_failures += 1
            time.sleep(0.5)


def _with_accepted(answer: Answer, deployment_id: str) -> Answer:
    return Answer(
        answer.kind,
        answer.started,
        answer.finished,
        answer.status,
        answer.retry_after,
        answer.content_type,
        answer.text,
        deployment_id,
    )


def unit_manifest(name: str) -> dict[str, Any]:
    """A unit with one inline process; its deploymentId is its name."""
    return {
        "apiVersion": "bpm.deployunits.io/v1alpha1",
        "kind": "DeploymentUnit",
        "metadata": {"name": name},
        "spec": {
            "deploymentId": name,
            "name": name,
            "resources": {"inline": [{"name": f"{name}.bpmn", "content": bpmn(name)}]},
        },
    }


def create_unit(cluster: Cluster, name: str, timeout: str) -> subprocess.CompletedProcess[str]:
    """kubectl create of `unit_manifest(name)` with that request timeout; not checked."""
    return cluster.kubectl(
        "create",
        "-n",
        NAMESPACE,
        f"--request-timeout={timeout}",
        "-f",
        "-",
        input=json.dumps(unit_manifest(name)),
        check=False,
    )


def publish(repo: MavenRepo, deployment_id: str) -> None:
    group, artifact, version = deployment_id.split(":")
    key = f"p{uuid.uuid4().hex[:8]}"
    jar = build_kjar(
        {f"{key}.bpmn2": jbpm_bpmn(key)}, group_id=group, artifact_id=artifact, version=version
    )
    repo.publish(MavenCoordinates(group, artifact, version), jar)


def dialect_error(answer: Answer) -> str | None:
    """Why a 503 is not in its dialect's shape (None when it is)."""
    if answer.retry_after is None or not answer.retry_after.isdigit():
        return "no Retry-After"
    if "Traceback" in answer.text:
        return "a stack trace"
    if answer.kind.startswith("camunda"):
        try:
            body = json.loads(answer.text)
        except ValueError:
            return "not JSON"
        if not (isinstance(body.get("type"), str) and isinstance(body.get("message"), str)):
            return "not Camunda's {type, message}"
        return None
    try:
        root = ElementTree.fromstring(answer.text)
    except ElementTree.ParseError:
        return "not XML"
    fields = {child.tag: child.text for child in root}
    if root.tag != "exception" or fields.get("status") != "FAILURE" or not fields.get("message"):
        return "not jBPM's <exception> with status and message"
    return None


def units_by_id(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """deploymentId → unit, of every unit in the drill's namespace."""
    listed = json.loads(
        cluster.kubectl("get", "deploymentunits", "-n", NAMESPACE, "-o", "json").stdout
    )
    return {str(item["spec"]["deploymentId"]): item for item in listed["items"]}


def status_of(unit: dict[str, Any] | None) -> str:
    return str(((unit or {}).get("status") or {}).get("status") or "")


def reconciled(unit: dict[str, Any] | None, wanted: str) -> bool:
    """The operator has acted on the unit's current generation and reached `wanted`."""
    if unit is None:
        return False
    status = unit.get("status") or {}
    generation = int(unit["metadata"].get("generation") or 0)
    return status.get("status") == wanted and (status.get("observedGeneration") or 0) >= generation


def unit_status(cluster: Cluster, name: str) -> dict[str, Any] | None:
    found = cluster.kubectl(
        "get", "du", name, "-n", NAMESPACE, "-o", "json", "--request-timeout=5s", check=False
    )
    if found.returncode != 0:
        return None
    unit: dict[str, Any] = json.loads(found.stdout)
    return unit


def create_until_accepted(cluster: Cluster, name: str, within: float) -> None:
    """kubectl create, again until the API server takes it (it may still be warming up)."""
    deadline = time.monotonic() + within
    while True:
        created = create_unit(cluster, name, "5s")
        if created.returncode == 0 or "AlreadyExists" in created.stderr:
            return
        assert time.monotonic() < deadline, f"kubectl create {name}: {created.stderr}"
        time.sleep(0.2)


def count_lines(log: Path, marker: str | re.Pattern[str]) -> int:
    lines = log.read_text(errors="replace").splitlines()
    if isinstance(marker, str):
        return sum(marker in line for line in lines)
    return sum(marker.search(line) is not None for line in lines)


def etcd_post(plane: ControlPlane, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A call of etcd's JSON gateway (v3 API over HTTP)."""
    request = urllib.request.Request(
        f"{plane.etcd_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def compact_etcd(plane: ControlPlane) -> int:
    """Compact etcd's history up to its current revision; the revision compacted to."""
    key = base64.b64encode(b"/registry/").decode()
    header = etcd_post(plane, "/v3/kv/range", {"key": key, "limit": 1})["header"]
    revision = int(header["revision"])
    etcd_post(plane, "/v3/kv/compaction", {"revision": revision, "physical": True})
    return revision


@dataclass
class Stack:
    """The drill's own plane, operator, shim and Maven repository."""

    plane: ControlPlane
    cluster: Cluster
    operator: OperatorProcess
    shim: ShimProcess
    repo: MavenRepo


@pytest.fixture
def stack(tmp_path: Path, maven_repo: MavenRepo) -> Iterator[Stack]:
    plane = ControlPlane(binaries.ensure_built(), with_controller_manager=False)
    plane.start()
    operator = shim = None
    try:
        cluster = Cluster(plane.kubeconfig, None, plane=plane)
        cluster.install_crds()
        cluster.kubectl("create", "namespace", NAMESPACE)
        maven = {"DEPLOYUNITS_MAVEN_REPOSITORY": maven_repo.url}
        # DEBUG: kopf tells of a 410 (and the relist after it) only at that level.
        operator = OperatorProcess(
            plane.kubeconfig,
            tmp_path / "operator.log",
            env={**maven, "DEPLOYUNITS_LOG_LEVEL": "DEBUG"},
        )
        operator.start()
        shim = ShimProcess(
            plane.kubeconfig,
            tmp_path / "shim.log",
            namespace=NAMESPACE,
            env={**maven, "DEPLOYUNITS_JOB_QUEUE_LIMIT": "100000"},
        )
        shim.start()
        yield Stack(plane, cluster, operator, shim, maven_repo)
    finally:
        for process in (shim, operator):
            if process is not None and process.popen is not None:
                # A frozen process would not hear SIGTERM.
                os.kill(process.popen.pid, signal.SIGCONT)
                process.stop()
        plane.stop()


def first_after(answers: list[Answer], moment: float, accept: Callable[[Answer], bool]) -> float:
    """When the first answer finished after `moment` that `accept` likes (inf if none)."""
    times = [a.finished for a in answers if a.finished >= moment and accept(a)]
    return min(times, default=float("inf"))


def _restart_under_load(stack: Stack, load: Load, figures: Figures) -> tuple[float, float]:
    """Phase one; returns when the plane went down and when the API server was ready again."""
    plane, cluster = stack.plane, stack.cluster
    wait_for(
        lambda: sum(a.accepted is not None for a in load.snapshot()) >= 6 and load.kubectl_units,
        120,
        "the load to get going",
    )
    went_down = time.monotonic()
    plane.stop_api_server()
    plane.stop_etcd()
    stopped = time.monotonic()
    time.sleep(DOWN_SECONDS)
    starting = time.monotonic()
    plane.start_etcd()
    plane.start_api_server()
    ready = time.monotonic()
    figures.record(DRILL, "seconds down (stop command to API server ready)", ready - went_down)
    figures.record(DRILL, "seconds to stop kube-apiserver and etcd", stopped - went_down)
    figures.record(DRILL, "seconds to start etcd and kube-apiserver", ready - starting)

    probe = f"after-{uuid.uuid4().hex[:8]}"
    create_until_accepted(cluster, probe, RECONNECT_LIMIT)
    wait_for(
        lambda: reconciled(unit_status(cluster, probe), "DEPLOYED"),
        60,
        f"the operator to reconcile {probe}; log:\n{stack.operator.tail()}",
    )
    operator_seconds = time.monotonic() - ready

    def shim_wrote(answer: Answer) -> bool:
        return answer.accepted is not None and answer.started >= ready

    wait_for(
        lambda: first_after(load.snapshot(), ready, shim_wrote) < float("inf"),
        60,
        f"a write through the shim after the restart; log:\n{stack.shim.tail()}",
    )
    shim_seconds = first_after(load.snapshot(), ready, shim_wrote) - ready
    figures.record(DRILL, "operator reconnect seconds", operator_seconds)
    figures.record(DRILL, "shim reconnect seconds", shim_seconds)
    assert operator_seconds <= RECONNECT_LIMIT, stack.operator.tail()
    assert shim_seconds <= RECONNECT_LIMIT, stack.shim.tail()
    return went_down, ready


def _check_answers(answers: list[Answer], went_down: float, ready: float) -> int:
    """Every answer is expected; every 503 is in its dialect's shape. Returns 503s seen."""
    expected = {
        "camunda-create": {200, 503},
        "jbpm-deploy": {202, 503},
        "camunda-read": {200, 503},
        "jbpm-read": {200, 503},
    }
    unexpected = [a for a in answers if a.status not in expected[a.kind]]
    assert not unexpected, "\n".join(
        f"{a.kind} {a.status} at {a.started - went_down:+.1f}s: {a.text[:300]}"
        for a in unexpected[:10]
    )
    refused = [a for a in answers if a.kind == "jbpm-deploy" and a.status == 202 and not a.accepted]
    assert not refused, [a.text for a in refused[:5]]
    unavailable = [a for a in answers if a.status == 503]
    malformed = [(a.kind, why, a.text[:300]) for a in unavailable if (why := dialect_error(a))]
    assert not malformed, malformed[:10]
    # The outage must have been seen in both dialects, or the drill proved nothing. (Writes in
    # flight when it began wait for the operator and end well afterwards, so reads count too.)
    during = {a.kind.split("-")[0] for a in unavailable if went_down <= a.started <= ready}
    assert during == {"camunda", "jbpm"}, during
    return len(unavailable)


def _settle(stack: Stack, load: Load) -> tuple[int, int]:
    """Wait until every accepted job is deployed; returns (accepted, completed)."""
    accepted = {a.accepted for a in load.snapshot() if a.accepted is not None}
    accepted.update(load.kubectl_units.values())
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        units = units_by_id(stack.cluster)
        missing = sorted(i for i in accepted if not reconciled(units.get(i), "DEPLOYED"))
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    completed = len(accepted) - len(missing)
    assert not missing, {i: status_of(units.get(i)) for i in missing[:20]}
    return len(accepted), completed


def _watch_expiry(stack: Stack, figures: Figures) -> None:
    """Phase two: frozen watchers come back to an expired resourceVersion and relist."""
    plane, cluster, operator, shim = stack.plane, stack.cluster, stack.operator, stack.shim
    assert operator.popen is not None and shim.popen is not None
    operator_410s = count_lines(operator.log, OPERATOR_410)
    shim_relists = count_lines(shim.log, SHIM_RELIST)
    changed = next(iter(units_by_id(cluster).values()))
    frozen = (operator.popen.pid, shim.popen.pid)
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        # A restarted API server has a fresh watch cache that starts at etcd's current revision;
        # writes and a compaction then move history past every resourceVersion the frozen
        # watchers hold, so that a watch resumed from one of them gets 410 Gone.
        plane.stop_api_server()
        plane.start_api_server()
        missed = [f"m-{uuid.uuid4().hex[:8]}" for _ in range(MISSED_UNITS)]
        for name in missed:
            create_until_accepted(cluster, name, 30)
        cluster.kubectl(
            "patch", "du", changed["metadata"]["name"], "-n", NAMESPACE, "--type=merge",
            "-p", '{"spec": {"state": "Undeployed"}}',
        )  # fmt: skip
        compact_etcd(plane)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)

    wait_for(
        lambda: (
            count_lines(operator.log, OPERATOR_410) > operator_410s
            and count_lines(shim.log, SHIM_RELIST) > shim_relists
        ),
        60,
        "the operator to see 410 and the shim to list again; "
        f"shim log:\n{shim.tail(20)}\noperator log:\n{operator.tail(20)}",
    )

    with httpx.Client(base_url=shim.engine(), timeout=60) as api:

        def caught_up() -> bool:
            units = units_by_id(cluster)
            return (
                all(reconciled(units.get(n), "DEPLOYED") for n in missed)
                and reconciled(units.get(changed["spec"]["deploymentId"]), "UNDEPLOYED")
                and all(api.get(f"/deployment/{n}").status_code == 200 for n in missed)
                and api.get(f"/deployment/{changed['spec']['deploymentId']}").status_code == 404
            )

        wait_for(caught_up, 90, "the changes made while frozen to be reconciled and shown")

        # Changed after the relist: the resumed watches deliver it.
        later = missed[0]
        cluster.kubectl(
            "patch", "du", later, "-n", NAMESPACE, "--type=merge",
            "-p", '{"spec": {"state": "Undeployed"}}',
        )  # fmt: skip
        wait_for(
            lambda: (
                reconciled(unit_status(cluster, later), "UNDEPLOYED")
                and api.get(f"/deployment/{later}").status_code == 404
            ),
            60,
            f"{later} undeployed after the 410",
        )
        created = api.post(
            "/deployment/create",
            data={"deployment-name": "after-410"},
            files={"data": ("after410.bpmn", bpmn("after410").encode())},
        )
        assert created.status_code == 200, created.text

    operator_seen = count_lines(operator.log, OPERATOR_410)
    shim_seen = count_lines(shim.log, SHIM_410)
    figures.record(DRILL, "410s seen by the operator (all phases)", operator_seen)
    figures.record(DRILL, "410s seen by the shim (all phases)", shim_seen)
    figures.record(
        DRILL, "broken or expired shim watches, listed again", count_lines(shim.log, SHIM_RELIST)
    )


@pytest.mark.timeout(900)
def test_control_plane_restart(stack: Stack, figures: Figures) -> None:
    load = Load(stack.shim, stack.cluster, stack.repo)
    load.start()
    try:
        went_down, ready = _restart_under_load(stack, load, figures)
        time.sleep(max(0.0, ready + LOAD_AFTER_RESTART - time.monotonic()))
    finally:
        load.stop()
    answers = load.snapshot()
    kubectl_calls = len(load.kubectl_units) + load.kubectl_failures
    figures.record(DRILL, "requests sent", len(answers) + kubectl_calls)
    figures.record(DRILL, "kubectl creates refused while down", load.kubectl_failures)
    figures.record(
        DRILL,
        "410s in phase one (operator, shim)",
        f"{count_lines(stack.operator.log, OPERATOR_410)}, {count_lines(stack.shim.log, SHIM_410)}",
    )
    unavailable = _check_answers(answers, went_down, ready)
    figures.record(DRILL, "503 answers", unavailable)
    accepted, completed = _settle(stack, load)
    figures.record(DRILL, "jobs accepted", accepted)
    figures.record(DRILL, "jobs completed", completed)

    _watch_expiry(stack, figures)
    # The shim logs a stack trace only for an unexpected failure (a 500, a broken watch loop).
    assert "Traceback" not in stack.shim.log.read_text(errors="replace"), stack.shim.tail(60)
