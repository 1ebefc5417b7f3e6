"""Concurrency drill: 50 REST clients at once, then the final state against a serial replay.

Fifty threads, released together by a barrier, send Camunda creates (some with duplicate
filtering, some racing with identical content under one name), Camunda redeploys (some of
deployments that other clients delete at the same moment), Camunda deletes (two clients per
victim) and jBPM deploys and undeploys of kjars from a real Maven repository (several clients per
id). Every operation is recorded with its answer and its start and end times. Once the operator
has settled, the final state (DeploymentUnits read with kubectl, and the shim's own list) must be
what a serial replay of the acknowledged operations gives.

What the acknowledgements determine, and so what the model checks:

- Camunda ids are new per create, so every acknowledged create (and each seed) exists at the end,
  with the name and the resource names and bytes it was sent, DEPLOYED, unless an acknowledged
  delete names it. Deleted ones are gone, also from the shim's list.
- An acknowledged redeploy made exactly one new deployment: the id it answered exists, has the
  source's name, the chosen resources with the source's bytes and the body's `source`; the
  source's name has exactly one unit per acknowledged redeploy besides the source.
- Refusals changed nothing: a redeploy or delete refused with 404 is only allowed when a delete
  of that deployment was acknowledged and had started before the refusal was answered (the order
  of overlapping calls is not determined, so either outcome is right then); no unit exists that
  no acknowledged operation accounts for.
- Duplicate filtering decides which racer deploys, not whether one does: an identical upload
  under one name gives exactly one deployment, every acknowledged answer names it, and exactly
  one answer carries definitions (the others answer the existing deployment, maps null).
- jBPM jobs are ordered by their identifiers (the ledger serializes admissions): per id, the
  job with the highest identifier sets the final spec.state and status and is the job the unit
  records as written last (earlier ones may be coalesced); an id without admitted jobs has no
  unit; one unit per id; no identifier is answered twice.
- Definition versions: per (kind, key) no version belongs to two deployments (over the answers
  and the final state), every version answered is still the one the unit holds (assigned once),
  and the versions of the Camunda keys are exactly 1..n, gap-free (nothing else allocates them
  here: a filtered duplicate allocates none). Which racer got which version is not determined.

Write audit: every write of the operator and the shim to the API server, and why it cannot
lose another writer's change ("rv" = metadata.resourceVersion precondition).

| module: function | object: field | write | verdict |
|---|---|---|---|
| k8s/_objects: _write_status | DU, Redeploy: status | merge patch, status subresource | safe (1) |
| k8s/_objects: set_finalizer | DU: finalizers | merge patch with rv | safe (2) |
| k8s/snapshots: ensure | snapshot ConfigMap | create (409 = exists) | safe |
| k8s/snapshots: add_owners | snapshot: ownerReferences | JSON patch, `test` of rv | safe |
| k8s/events: post | Event | create | safe |
| operations/redeploys: _pass | Redeploy (TTL expiry) | delete, uid + rv preconditions | fixed (3) |
| operations/redeploys: _pass | new DU | create, name from request uid | safe |
| k8s/snapshots: create | snapshot ConfigMap | create | safe |
| api/units: create_unit, redeploy | DU, Redeploy | create, generated name | safe |
| api/units: delete_unit | DU | delete, uid precondition | safe |
| k8s/snapshots: drop_unowned | snapshot ConfigMap | delete, rv precondition | safe |
| k8s/ledger: create, patch_data | ledger ConfigMap: data | create, or merge patch with rv | safe |
| k8s/units: patch_state | DU: spec.state, job annotation | merge patch with rv | safe |
| api/jbpm/materializer: _create | DU | create, name from the id | safe |
| api/auth (k8s/reviews) | TokenReview, SubjectAccessReview | create (never stored) | safe |

(1) Only the operator writes status; passes of one object are serialized by its lock and skip
events older than their own writes, so the whole status is this writer's own field.
(2) The removal after the undeploy write used the pass's stale resourceVersion and always met a
409 first; it now uses the version it wrote (found by this drill's conflict count).
(3) Had no precondition: a request re-applied under the same name, or one whose TTL was just
extended, could be deleted unseen.

`tests/unit/test_write_preconditions.py` fails when a write call without a precondition (and
not reviewed there) appears.

What the drill found, each fixed with a regression test of the normal run:

- Identical uploads with duplicate filtering sent at once all deployed (each decided on the
  operator's watch-fed index, which had not seen the others): now decided and written under a
  lock per name, source and tenant, with the operator's own writes ahead of the index
  (`tests/integration/test_concurrent_writes.py`, `tests/unit/test_duplicate_history.py`).
- An acknowledged jBPM job was dropped: the ledger write that removed a written record admitted
  a job on the cache's older unit, which then lost to the record's write as "superseded"
  (`tests/unit/test_api_jbpm_queue.py`).
- Every deletion met a 409 on the finalizer removal (the conflict figure), see (2) above
  (`tests/integration/test_concurrent_writes.py`).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployunits.api.jbpm import ids
from deployunits.api.jbpm.queue import LEDGER_NAME, Ledger
from deployunits.constants import JBPM_JOB_ANNOTATION
from deployunits.content.maven import MavenCoordinates
from devcluster.kjars import build_kjar, jbpm_bpmn
from devcluster.processes import OperatorProcess, ShimProcess
from tests.drills.figures import Figures
from tests.support import jbpm
from tests.support.cluster import Cluster
from tests.support.maven_repo import MavenRepo, maven_repo_fixture  # noqa: F401

DRILL = "concurrency"
CLIENTS = 50
CAMUNDA_KEYS = ("drill-order", "drill-payment")
KJARS = tuple(f"org.drill:kjar-{i}:1.0.0" for i in range(4))
SEEDS_KEPT = 3
SEEDS_DOOMED = 3
#: The two ways to ask for duplicate filtering; one racing group of identical uploads each.
FILTERING_MODES = ("enable-duplicate-filtering", "deploy-changed-only")
SETTLE_SECONDS = 300.0
MAPS = (
    "deployedProcessDefinitions",
    "deployedCaseDefinitions",
    "deployedDecisionDefinitions",
    "deployedDecisionRequirementsDefinitions",
)


def bpmn(key: str, marker: str) -> bytes:
    """An executable process; the marker in its name makes the bytes unique per upload."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" '
        'targetNamespace="http://example.org/drill">\n'
        f'  <process id="{key}" name="{marker}" isExecutable="true"><startEvent id="s"/>'
        "</process>\n</definitions>\n"
    ).encode()


def upload(marker: str) -> dict[str, bytes]:
    return {"a.bpmn": bpmn(CAMUNDA_KEYS[0], marker), "b.bpmn": bpmn(CAMUNDA_KEYS[1], marker)}


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass
class Op:
    """One call and its answer; `ack` is True when acknowledged, False when refused."""

    client: int
    kind: str
    target: str
    started: float
    ended: float = 0.0
    status: int = 0
    body: Any = None
    ack: bool = False
    refused: bool = False
    sent: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> bool:
        return not self.ack and not self.refused


@dataclass
class Seed:
    deployment_id: str
    name: str
    resources: dict[str, bytes]
    answer: dict[str, Any]


class Load:
    """The fifty clients' scripts and what they recorded."""

    def __init__(self, shim: ShimProcess, seeds: list[Seed], rng_seed: int = 7) -> None:
        self.shim = shim
        self.seeds = seeds
        self.kept = seeds[:SEEDS_KEPT]
        self.doomed = seeds[SEEDS_KEPT:]
        self.ops: list[Op] = []
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(CLIENTS)
        self._rng_seed = rng_seed

    def run(self) -> None:
        threads = [
            threading.Thread(target=self._client, args=(i,), name=f"client-{i}")
            for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _record(self, op: Op) -> None:
        with self._lock:
            self.ops.append(op)

    def _client(self, index: int) -> None:
        rng = random.Random(self._rng_seed * 1000 + index)
        with httpx.Client(base_url=self.shim.url, timeout=300) as http:
            self._barrier.wait()
            try:
                if index < 12:
                    for n in range(4):
                        filtering = FILTERING_MODES[n % 2] if n % 3 == 0 else None
                        self._create(http, index, f"drill-unique-{index}-{n}", filtering)
                elif index < 20:
                    group = index % len(FILTERING_MODES)
                    for _ in range(3):
                        mode = FILTERING_MODES[group]
                        self._create(http, index, f"drill-dup-{group}", mode, f"dup-{group}")
                elif index < 30:
                    for n in range(4):
                        seeds = self.doomed if (index + n) % 2 == 0 else self.kept
                        target = seeds[(index + n) % len(seeds)]
                        self._redeploy(http, index, target, n)
                elif index < 36:
                    time.sleep(rng.uniform(0.0, 2.0))
                    own = self._create(http, index, f"drill-own-{index}", None)
                    self._delete(http, index, self.doomed[index % SEEDS_DOOMED].deployment_id)
                    if own is not None:
                        self._delete(http, index, own)
                else:
                    for _ in range(6):
                        kjar = KJARS[rng.randrange(len(KJARS))]
                        self._jbpm(http, index, kjar, rng.choice(("deploy", "deploy", "undeploy")))
            except Exception as error:  # recorded: a client must not die silently
                self._record(Op(index, "crash", repr(error), time.monotonic(), time.monotonic()))

    def _create(
        self, http: httpx.Client, index: int, name: str, filtering: str | None, marker: str = ""
    ) -> str | None:
        resources = upload(marker or name)
        fields = {"deployment-name": name, **({filtering: "true"} if filtering else {})}
        files = {f"r{i}": (n, c) for i, (n, c) in enumerate(resources.items())}
        op = Op(index, "create", name, time.monotonic(), sent={"resources": resources, **fields})
        response = http.post("/engine-rest/deployment/create", data=fields, files=files)
        self._finish(op, response, ok={200})
        return str(op.body["id"]) if op.ack else None

    def _redeploy(self, http: httpx.Client, index: int, target: Seed, variant: int) -> None:
        body: dict[str, Any] | None = [
            None,
            {"resourceNames": ["a.bpmn"]},
            {"source": "drill", "resourceNames": ["b.bpmn", "a.bpmn"]},
        ][variant % 3]
        op = Op(index, "redeploy", target.deployment_id, time.monotonic(), sent={"body": body})
        path = f"/engine-rest/deployment/{target.deployment_id}/redeploy"
        response = http.post(path, json=body) if body is not None else http.post(path)
        self._finish(op, response, ok={200}, refusals={404})

    def _delete(self, http: httpx.Client, index: int, deployment_id: str) -> None:
        op = Op(index, "delete", deployment_id, time.monotonic())
        response = http.delete(f"/engine-rest/deployment/{deployment_id}")
        self._finish(op, response, ok={204}, refusals={404})

    def _jbpm(self, http: httpx.Client, index: int, kjar: str, operation: str) -> None:
        op = Op(index, operation, kjar, time.monotonic())
        response = http.post(
            f"{jbpm.PREFIX}/deployment/{kjar}/{operation}", headers={"Accept": "application/json"}
        )
        op.ended, op.status = time.monotonic(), response.status_code
        op.body = _json(response)
        if response.status_code == 202 and isinstance(op.body, dict):
            op.ack = op.body.get("success") is True
            op.refused = op.body.get("success") is False
        self._record(op)

    def _finish(
        self,
        op: Op,
        response: httpx.Response,
        *,
        ok: set[int],
        refusals: frozenset[int] | set[int] = frozenset(),
    ) -> None:
        op.ended, op.status, op.body = time.monotonic(), response.status_code, _json(response)
        op.ack = response.status_code in ok
        op.refused = response.status_code in refusals
        self._record(op)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


# The model: what a serial replay of the acknowledged operations leaves behind.


@dataclass
class ExpectedUnit:
    name: str
    resources: dict[str, str]  # name -> sha256
    source: str | None
    why: str


def replay(seeds: list[Seed], ops: list[Op]) -> tuple[dict[str, ExpectedUnit], list[str]]:
    """Expected Camunda deployments by id, and the mismatches decidable from the answers."""
    problems: list[str] = []
    by_id = {s.deployment_id: s for s in seeds}
    expected: dict[str, ExpectedUnit] = {
        s.deployment_id: ExpectedUnit(
            s.name, {n: sha256(c) for n, c in s.resources.items()}, None, "seed"
        )
        for s in seeds
    }
    deletes = [o for o in ops if o.kind == "delete"]
    deleted_at: dict[str, list[float]] = defaultdict(list)
    for op in deletes:
        if op.ack:
            deleted_at[op.target].append(op.started)

    def deleted_before(deployment_id: str, moment: float) -> bool:
        return any(started < moment for started in deleted_at.get(deployment_id, []))

    duplicates: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.kind == "create" and op.ack:
            sent = op.sent
            resources = {n: sha256(c) for n, c in sent["resources"].items()}
            if op.target.startswith("drill-dup-"):
                duplicates[op.target].append(op)
                continue
            expected[str(op.body["id"])] = ExpectedUnit(op.target, resources, None, "create")
            by_id[str(op.body["id"])] = Seed(str(op.body["id"]), op.target, sent["resources"], {})
    for name, answers in sorted(duplicates.items()):
        answered = {str(o.body["id"]) for o in answers}
        with_maps = [o for o in answers if any(o.body.get(m) for m in MAPS)]
        if len(answered) != 1:
            problems.append(f"duplicate uploads named {name} answered {len(answered)} ids")
        if len(with_maps) != 1:
            problems.append(
                f"duplicate uploads named {name}: {len(with_maps)} answers carry definitions"
            )
        first = answers[0]
        resources = {n: sha256(c) for n, c in first.sent["resources"].items()}
        for deployment_id in answered:
            expected[deployment_id] = ExpectedUnit(name, resources, None, "filtered create")
    for op in ops:
        if op.kind != "redeploy":
            continue
        source = by_id[op.target]
        if op.ack:
            body = op.sent["body"] or {}
            chosen = body.get("resourceNames") or list(source.resources)
            expected[str(op.body["id"])] = ExpectedUnit(
                source.name,
                {n: sha256(source.resources[n]) for n in chosen},
                body.get("source"),
                f"redeploy of {op.target}",
            )
            if op.body.get("name") != source.name:
                problems.append(f"redeploy of {op.target} answered name {op.body.get('name')}")
        elif op.refused and not deleted_before(op.target, op.ended):
            problems.append(
                f"redeploy of {op.target} refused ({op.status}) though no delete of it "
                f"had been acknowledged: {op.body}"
            )
    for op in deletes:
        if op.refused and not deleted_before(op.target, op.ended):
            problems.append(f"delete of {op.target} refused ({op.status}) while it existed")
    for deployment_id in deleted_at:
        expected.pop(deployment_id, None)
    return expected, problems


def jbpm_replay(ops: list[Op]) -> tuple[dict[str, Op], list[str]]:
    """Per kjar id, the admitted job with the highest identifier (it sets the final state)."""
    problems: list[str] = []
    admitted = [o for o in ops if o.kind in ("deploy", "undeploy") and o.ack]
    identifiers = Counter(o.body["identifier"] for o in admitted)
    problems += [f"job identifier {i} answered {n} times" for i, n in identifiers.items() if n > 1]
    last: dict[str, Op] = {}
    for op in sorted(admitted, key=lambda o: int(o.body["identifier"])):
        last[op.target] = op
    return last, problems


def compare(
    seeds: list[Seed], ops: list[Op], units: list[dict[str, Any]], listed: list[str]
) -> list[str]:
    """Every difference between the final state and the replay (empty when they agree)."""
    expected, problems = replay(seeds, ops)
    camunda = [u for u in units if ":" not in u["spec"]["deploymentId"]]
    found: dict[str, dict[str, Any]] = {}
    for unit in camunda:
        deployment_id = unit["spec"]["deploymentId"]
        if deployment_id in found:
            problems.append(f"deployment id {deployment_id} held by two units")
        found[deployment_id] = unit
    for deployment_id in sorted(set(found) - set(expected)):
        unit = found[deployment_id]
        problems.append(
            f"unit {unit['metadata']['name']} ({deployment_id}, name "
            f"{unit['spec'].get('name')}) exists though no acknowledged operation made it"
        )
    for deployment_id, want in sorted(expected.items()):
        unit = found.get(deployment_id)
        if unit is None:
            problems.append(f"{deployment_id} ({want.why}) is missing")
            continue
        status = unit.get("status") or {}
        have = {r["name"]: r["sha256"] for r in status.get("resources") or []}
        if unit["spec"].get("name") != want.name:
            problems.append(f"{deployment_id}: name {unit['spec'].get('name')} != {want.name}")
        if have != want.resources:
            problems.append(f"{deployment_id} ({want.why}): resources {have} != {want.resources}")
        if unit["spec"].get("source") != want.source:
            problems.append(f"{deployment_id}: source {unit['spec'].get('source')}")
        if status.get("status") != "DEPLOYED":
            problems.append(f"{deployment_id} ({want.why}) is {status.get('status')}")
    if sorted(listed) != sorted(found):
        problems.append(
            f"the shim lists {len(listed)} deployments, the API server holds {len(found)}: "
            f"{sorted(set(listed) ^ set(found))}"
        )
    acked_redeploys = Counter(o.target for o in ops if o.kind == "redeploy" and o.ack)
    for seed in seeds:
        copies = [
            u
            for u in camunda
            if u["spec"].get("name") == seed.name
            and u["spec"]["deploymentId"] != seed.deployment_id
        ]
        if len(copies) != acked_redeploys[seed.deployment_id]:
            problems.append(
                f"{seed.name}: {len(copies)} redeployed units for "
                f"{acked_redeploys[seed.deployment_id]} acknowledged redeploys"
            )
    problems += check_versions(seeds, ops, units)
    wanted, jbpm_problems = jbpm_replay(ops)
    problems += jbpm_problems
    for kjar in KJARS:
        mine = [u for u in units if u["spec"]["deploymentId"] == kjar]
        if len(mine) > 1:
            problems.append(f"{kjar}: {len(mine)} units")
        last = wanted.get(kjar)
        if last is None:
            if mine:
                problems.append(f"{kjar}: a unit exists though no job was admitted")
            continue
        state = "Deployed" if last.kind == "deploy" else "Undeployed"
        if not mine:
            problems.append(f"{kjar}: no unit, expected {state}")
            continue
        unit = mine[0]
        job = (unit["metadata"].get("annotations") or {}).get(JBPM_JOB_ANNOTATION)
        if job != str(last.body["identifier"]):
            problems.append(f"{kjar}: job {job} written last, expected {last.body['identifier']}")
        status = (unit.get("status") or {}).get("status")
        if unit["spec"].get("state", "Deployed") != state:
            problems.append(f"{kjar}: spec.state {unit['spec'].get('state')}, expected {state}")
        if status != state.upper():
            problems.append(f"{kjar}: status {status}, expected {state.upper()}")
    return problems


def check_versions(seeds: list[Seed], ops: list[Op], units: list[dict[str, Any]]) -> list[str]:
    """Unique per (kind, key), never changed once answered, gap-free for the Camunda keys."""
    problems: list[str] = []
    owner: dict[tuple[str, int], str] = {}
    final: dict[tuple[str, str], int] = {}
    for unit in units:
        deployment_id = unit["spec"]["deploymentId"]
        for d in (unit.get("status") or {}).get("definitions") or []:
            slot = (f"{d['kind']}:{d['key']}", int(d["version"]))
            if owner.setdefault(slot, deployment_id) != deployment_id:
                problems.append(
                    f"{slot[0]} version {slot[1]} held by {owner[slot]} and {deployment_id}"
                )
            final[(deployment_id, d["key"])] = int(d["version"])
    answers = [s.answer for s in seeds] + [
        o.body for o in ops if o.kind in ("create", "redeploy") and o.ack
    ]
    for answer in answers:
        for d in (answer.get("deployedProcessDefinitions") or {}).values():
            slot = (f"process:{d['key']}", int(d["version"]))
            if owner.setdefault(slot, d["deploymentId"]) != d["deploymentId"]:
                problems.append(
                    f"{slot[0]} version {slot[1]} answered for {d['deploymentId']}, "
                    f"held by {owner[slot]}"
                )
            kept = final.get((d["deploymentId"], d["key"]))
            if kept is not None and kept != int(d["version"]):
                problems.append(
                    f"{d['deploymentId']} {d['key']}: answered version {d['version']}, holds {kept}"
                )
    for key in CAMUNDA_KEYS:
        versions = sorted(v for (k, v) in owner if k == f"process:{key}")
        if versions != list(range(1, len(versions) + 1)):
            missing = sorted(set(range(1, max(versions, default=0) + 1)) - set(versions))
            problems.append(f"{key}: versions not gap-free, missing {missing}")
    return problems


# The drill.


@pytest.fixture
def shim(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    maven_repo: MavenRepo,
    tmp_path: Path,
) -> Iterator[ShimProcess]:
    with ShimProcess(
        cluster.kubeconfig,
        tmp_path / "shim.log",
        namespace=namespace,
        env={
            "DEPLOYUNITS_MAVEN_REPOSITORY": maven_repo.url,
            # Overload is not what this drill is about: give slow 2-core machines time.
            "DEPLOYUNITS_WRITE_TIMEOUT_SECONDS": "240",
        },
    ).serving() as process:
        yield process


def publish_kjars(repo: MavenRepo) -> None:
    for number, kjar in enumerate(KJARS):
        group, artifact, version = kjar.split(":")
        jar = build_kjar(
            {f"org/drill/p{number}.bpmn2": jbpm_bpmn(f"drill-kjar-{number}")},
            group_id=group,
            artifact_id=artifact,
            version=version,
        )
        repo.publish(MavenCoordinates(group, artifact, version), jar)


def create_seeds(shim: ShimProcess) -> list[Seed]:
    seeds = []
    with httpx.Client(base_url=shim.url, timeout=120) as http:
        for number in range(SEEDS_KEPT + SEEDS_DOOMED):
            name = f"drill-seed-{number}"
            resources = upload(name)
            files = {f"r{i}": (n, c) for i, (n, c) in enumerate(resources.items())}
            response = http.post(
                "/engine-rest/deployment/create", data={"deployment-name": name}, files=files
            )
            assert response.status_code == 200, response.text
            answer = response.json()
            seeds.append(Seed(answer["id"], name, resources, answer))
    return seeds


def settled(cluster: Cluster, namespace: str) -> list[dict[str, Any]] | None:
    """The units once no job, deletion, Redeploy or queued jBPM job is in flight."""
    units = json.loads(cluster.kubectl("get", "du", "-n", namespace, "-o", "json").stdout)["items"]
    for unit in units:
        status = unit.get("status") or {}
        if (
            unit["metadata"].get("deletionTimestamp")
            or status.get("observedGeneration") != unit["metadata"].get("generation")
            or status.get("status") in (None, "ACCEPTED", "DEPLOYING", "UNDEPLOYING")
        ):
            return None
    redeploys = json.loads(cluster.kubectl("get", "rdp", "-n", namespace, "-o", "json").stdout)
    for request in redeploys["items"]:
        conditions = (request.get("status") or {}).get("conditions") or []
        if not any(
            c["type"] in ("Succeeded", "Stalled") and c["status"] == "True" for c in conditions
        ):
            return None
    ledger = cluster.kubectl(
        "get", "configmap", LEDGER_NAME, "-n", namespace, "-o", "json", check=False
    )
    if ledger.returncode == 0 and Ledger.parse(json.loads(ledger.stdout)).records:
        return None
    return list(units)


def conflicts_in(log: Path, start: int) -> int:
    """Operator passes retried after a 409 since byte offset `start` of its log."""
    text = log.read_bytes()[start:].decode(errors="replace")
    return sum(1 for line in text.splitlines() if "Retrying" in line and " 409 " in line)


@pytest.mark.timeout(1200)
def test_fifty_clients_leave_the_state_a_serial_replay_gives(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    shim: ShimProcess,
    maven_repo: MavenRepo,
    figures: Figures,
) -> None:
    publish_kjars(maven_repo)
    seeds = create_seeds(shim)
    log_start = operator.log.stat().st_size if operator.log.exists() else 0

    load = Load(shim, seeds)
    started = time.monotonic()
    load.run()
    load_seconds = time.monotonic() - started

    settle_started = time.monotonic()
    deadline = settle_started + SETTLE_SECONDS
    units = settled(cluster, namespace)
    while units is None and time.monotonic() < deadline:
        time.sleep(1.0)
        units = settled(cluster, namespace)
    settle_seconds = time.monotonic() - settle_started
    assert units is not None, f"not settled after {SETTLE_SECONDS:g}s"
    listed = [
        d["id"]
        for d in httpx.get(f"{shim.engine()}/deployment", timeout=60).json()
        if not ids.is_jbpm_id(d["id"])
    ]
    mismatches = compare(seeds, load.ops, units, listed)
    ops = load.ops

    figures.record(DRILL, "clients", CLIENTS)
    figures.record(DRILL, "operations sent", len(ops))
    figures.record(DRILL, "acknowledged", sum(o.ack for o in ops))
    for kind in ("create", "redeploy", "delete", "deploy", "undeploy"):
        figures.record(DRILL, f"refused {kind}", sum(o.kind == kind and o.refused for o in ops))
    reasons = Counter(
        o.body.get("explanation", "") for o in ops if o.kind in ("deploy", "undeploy") and o.refused
    )
    figures.record(DRILL, "jBPM refusals", "; ".join(f"{n}x {r}" for r, n in reasons.items()))
    figures.record(DRILL, "errors (5xx, unexpected)", sum(o.error for o in ops))
    figures.record(DRILL, "client 409 answers", sum(o.status == 409 for o in ops))
    figures.record(DRILL, "operator 409 conflicts retried", conflicts_in(operator.log, log_start))
    figures.record(DRILL, "load seconds", load_seconds)
    figures.record(DRILL, "settle seconds", settle_seconds)
    figures.record(DRILL, "units at the end", len(units))
    figures.record(DRILL, "mismatches found", len(mismatches))

    errors = [
        f"client {o.client} {o.kind} {o.target}: {o.status} {str(o.body)[:300]}"
        for o in ops
        if o.error
    ]
    assert not errors, "\n".join(errors)
    assert not mismatches, "\n".join([*mismatches, *evidence(ops, shim)])


def evidence(ops: list[Op], shim: ShimProcess) -> list[str]:
    """What helps to explain a mismatch: the jBPM jobs in order and the shim's warnings."""
    jobs = sorted(
        (o for o in ops if o.kind in ("deploy", "undeploy") and o.ack),
        key=lambda o: int(o.body["identifier"]),
    )
    lines = ["admitted jBPM jobs:"]
    lines += [f"  {o.body['identifier']} {o.kind} {o.target}" for o in jobs]
    lines.append("shim warnings:")
    lines += [
        f"  {line}"
        for line in shim.tail(5000).splitlines()
        if " WARNING " in line or " ERROR " in line
    ]
    return lines
