"""jBPM REST shim benchmark: many deploy requests for distinct units posted at once.

    .venv/bin/python bench/jbpm_rest.py [--units 500] [--concurrency 32] [--queue-limit 1000]
                                        [--control] [--shared-kmodule] [--logs DIR]
                                        [--least-operator]

Publishes --units kjars in a local Maven repository (served over HTTP/1.1 by a process of its
own, bench/go_maven_server, as a real repository would be), then measures in one run:
- the floor: the same number of unit creates plus one status patch each, by a plain client at
  the same concurrency, before the operator runs;
- the shim: --units POST /deployment/{id}/deploy for unknown ids, all started at once (at most
  --concurrency on the wire), against the shim with a queue limit of --queue-limit, the real
  operator resolving every kjar from the repository.
- the required-writes floor (bench/baselines/required_writes.py): the create, one snapshot of
  the kjar's resources, the full status and one Event per unit by a plain client, the operator's
  watches open.
Prints: how many were answered 202 and accepted; the time until all are DEPLOYED and its ratio
to the floor (target <= 2.5) and to the required-writes floor; p50 and p99 of the 202 answer
itself (targets <= 30 ms and <= 150 ms); the API writes per unit; the CPU seconds of every
process in both phases. With --control, also the operator alone: the same units created
directly by a plain client (what the ratio would be without the shim). With --least-operator,
bench/baselines/least_operator.py takes the operator's place: the bound any kopf operator meets.
Figures only; nothing is asserted.
"""

import argparse
import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baselines.required_writes import required_writes
from bench.common import (
    CpuMeter,
    Stopwatch,
    bounded,
    client,
    describe,
    diff,
    install_crds,
    least_operator_command,
    observed,
    percentile,
    wait_until_all,
    write_counts,
)
from deployunits.api.jbpm import ids
from deployunits.content.maven import MavenCoordinates
from deployunits.k8s.raw import KubeClient, core_path, custom_path
from devcluster import binaries
from devcluster.kjars import KMODULE_XML, REPOSITORY_PATH, build_kjar, jbpm_bpmn, publish
from devcluster.plane import ControlPlane, free_port
from devcluster.processes import OperatorProcess, ShimProcess, wait_for

PLURAL = "deploymentunits"
#: The jBPM dialect's root on the shim.
PREFIX = "/business-central/rest"
NAMESPACE = "bench"
FLOOR = "floor"
REQUIRED = "required"
DIRECT = "direct"
WARM_UP = "warm-up"


def deployment_id(index: int) -> str:
    return f"org.bench:kjar-{index:05d}:1.0.{index}"


def kmodule_xml(index: int) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<kmodule xmlns="http://www.drools.org/xsd/kmodule">'
        f'<kbase name="kbase{index}" packages="org.bench"/></kmodule>'
    ).encode()


def maven_server_command() -> list[str]:
    """bench/go_maven_server built once (cached by its source), else bench/maven_server.py.

    The Go server costs a tenth of the Python one's CPU per file: on two cores, CPU the stand-in
    repository takes is taken from the processes measured.
    """
    source = Path(__file__).with_name("go_maven_server")
    digest = hashlib.sha256((source / "main.go").read_bytes()).hexdigest()[:16]
    built = binaries.cache_root() / "bench" / f"maven-server-{digest}"
    if not built.exists():
        built.parent.mkdir(parents=True, exist_ok=True)
        try:
            binaries.go_build(source, ["."], built, "-s -w")
        except binaries.BinariesUnavailable as error:
            sys.stderr.write(f"{error}; serving the repository with bench/maven_server.py\n")
            return [sys.executable, str(Path(__file__).with_name("maven_server.py"))]
    return [str(built)]


class MavenServer:
    """A repository directory served over HTTP/1.1 by a process of its own."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        port = free_port()
        self.url = f"http://127.0.0.1:{port}{REPOSITORY_PATH}"
        self.popen = subprocess.Popen([*maven_server_command(), str(root), str(port)])
        wait_for(lambda: self._listening(port), 30, "the Maven repository server")

    def _listening(self, port: int) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"the Maven repository server exited with {self.popen.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        self.popen.terminate()
        self.popen.wait(timeout=15)


def process(index: int) -> tuple[str, bytes]:
    """The one process of kjar `index`: its path in the jar and its content."""
    key = f"process_{index:05d}"
    return f"org/bench/{key}.bpmn2", jbpm_bpmn(key, package="org.bench")


def kmodule(index: int, shared_kmodule: bool) -> bytes:
    # Each kjar its own kmodule.xml: identical ones would all share one snapshot ConfigMap
    # that gains an owner per unit (see --shared-kmodule).
    return KMODULE_XML if shared_kmodule else kmodule_xml(index)


def publish_all(repo: MavenServer, count: int, shared_kmodule: bool) -> None:
    for index in range(count):
        group, artifact, version = deployment_id(index).split(":")
        path, content = process(index)
        jar = build_kjar(
            {path: content},
            group_id=group,
            artifact_id=artifact,
            version=version,
            kmodule=kmodule(index, shared_kmodule),
        )
        publish(repo.root, MavenCoordinates(group, artifact, version), jar)


def stored_content(index: int, shared_kmodule: bool) -> dict[str, bytes]:
    """What the operator keeps of kjar `index`: its process and its kmodule.xml."""
    path, content = process(index)
    return {path: content, "META-INF/kmodule.xml": kmodule(index, shared_kmodule)}


def floor_unit(index: int, repository: str) -> dict[str, Any]:
    """What the shim creates for a deploy of an unknown id."""
    identifier = deployment_id(index)
    group, artifact, version = identifier.split(":")
    return {
        "apiVersion": "bpm.deployunits.io/v1alpha1",
        "kind": "DeploymentUnit",
        "metadata": {
            "name": ids.unit_name(identifier),
            "finalizers": ["bpm.deployunits.io/finalizer"],
        },
        "spec": {
            "deploymentId": identifier,
            "state": "Deployed",
            "strategy": "SINGLETON",
            "resources": {
                "maven": {
                    "groupId": group,
                    "artifactId": artifact,
                    "version": version,
                    "repository": repository,
                }
            },
        },
    }


async def floor(
    kube: KubeClient, namespace: str, count: int, repository: str, concurrency: int
) -> float:
    """The same creates plus one status patch each, by a plain client."""
    status = {"status": {"observedGeneration": 1, "status": "DEPLOYED"}}

    async def one(index: int) -> None:
        body = floor_unit(index, repository)
        await kube.create(custom_path(PLURAL, namespace), body)
        name = body["metadata"]["name"]
        await kube.patch(custom_path(PLURAL, namespace, name, "status"), status)

    with Stopwatch() as watch:
        await bounded(concurrency, [lambda i=i: one(i) for i in range(count)])
    return watch.seconds


def deployed(obj: dict[str, Any]) -> bool:
    return observed(obj) and (obj.get("status") or {}).get("status") == "DEPLOYED"


async def wait_all_deployed(
    kube: KubeClient, namespace: str, count: int, resource_version: str
) -> None:
    """Follow a watch until `count` units of the namespace are DEPLOYED at their generation."""
    await wait_until_all(kube, custom_path(PLURAL, namespace), count, resource_version, deployed)


async def control(kube: KubeClient, count: int, repository: str, concurrency: int) -> float:
    """The operator alone: the units the shim would create, created at once by a plain client."""
    listing = await kube.get(custom_path(PLURAL, DIRECT), params={"limit": "1"})
    with Stopwatch() as watch:
        waiter = asyncio.create_task(
            wait_all_deployed(kube, DIRECT, count, listing["metadata"]["resourceVersion"])
        )
        await bounded(
            concurrency,
            [
                lambda i=i: kube.create(custom_path(PLURAL, DIRECT), floor_unit(i, repository))
                for i in range(count)
            ],
        )
        await waiter
    return watch.seconds


async def post_all(
    shim: ShimProcess, count: int, concurrency: int
) -> tuple[list[float], list[dict[str, Any]]]:
    """Every deploy request started at once; the latency of each 202 answer itself.

    aiohttp rather than httpx: on a small machine httpx's own CPU per request would be most of
    what is measured.
    """
    latencies: list[float] = []
    answers: list[dict[str, Any]] = []
    base = shim.url + PREFIX
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def warm() -> None:
            async with http.get(f"{base}/deployment/a:b:c") as response:
                await response.read()

        # Open the connections first, so the figures are the requests' and not TCP set-up.
        await bounded(concurrency, [warm for _ in range(concurrency * 2)])

        async def one(index: int) -> None:
            start = time.perf_counter()
            async with http.post(
                f"{base}/deployment/{deployment_id(index)}/deploy",
                headers={"Accept": "application/json"},
            ) as response:
                body = await response.read()
            latencies.append(time.perf_counter() - start)
            if response.status != 202:
                raise RuntimeError(f"deploy {index}: {response.status} {body[:300]!r}")
            answers.append(json.loads(body))

        await bounded(concurrency, [lambda i=i: one(i) for i in range(count)])
    return latencies, answers


async def run(args: argparse.Namespace, plane: ControlPlane, scratch: Path) -> dict[str, Any]:
    kube = client(plane.kubeconfig)
    repo = MavenServer(scratch / "maven")
    operator = OperatorProcess(
        plane.kubeconfig,
        scratch / "operator.log",
        env={
            "DEPLOYUNITS_NAMESPACES": json.dumps([NAMESPACE, DIRECT]),
            "DEPLOYUNITS_LOG_LEVEL": "WARNING",
        },
        command=least_operator_command() if args.least_operator else None,
    )
    shim = ShimProcess(
        plane.kubeconfig,
        scratch / "shim.log",
        namespace=NAMESPACE,
        env={
            "DEPLOYUNITS_MAVEN_REPOSITORY": repo.url,
            "DEPLOYUNITS_JOB_QUEUE_LIMIT": str(args.queue_limit),
            "DEPLOYUNITS_NAMESPACES": json.dumps([NAMESPACE]),
            "DEPLOYUNITS_LOG_LEVEL": "WARNING",
        },
    )
    results: dict[str, Any] = {
        "units": args.units,
        "concurrency": args.concurrency,
        "queue_limit": args.queue_limit,
    }
    try:
        with Stopwatch() as publishing:
            publish_all(repo, args.units, args.shared_kmodule)
        results["publish_seconds"] = round(publishing.seconds, 2)
        for namespace in (WARM_UP, FLOOR, REQUIRED, NAMESPACE, DIRECT):
            await kube.create(core_path("namespaces"), {"metadata": {"name": namespace}})
        # A fresh API server is slow for its first objects of a kind: warm it up first.
        await floor(kube, WARM_UP, 100, repo.url, args.concurrency)
        pids = {**plane.processes(), "bench": os.getpid(), "maven": repo.popen.pid}
        meter = CpuMeter(pids)
        meter.start()
        results["floor_seconds"] = await floor(kube, FLOOR, args.units, repo.url, args.concurrency)
        results["floor_cpu_seconds"] = meter.stop()
        units = [
            (floor_unit(i, repo.url), stored_content(i, args.shared_kmodule))
            for i in range(args.units)
        ]
        results["required_writes_seconds"] = await required_writes(
            kube, REQUIRED, units, args.concurrency
        )
        operator.start()
        shim.start()
        assert operator.popen is not None and shim.popen is not None
        meter = CpuMeter({**pids, "operator": operator.popen.pid, "shim": shim.popen.pid})
        meter.start()
        listing = await kube.get(custom_path(PLURAL, NAMESPACE), params={"limit": "1"})
        before = await write_counts(kube)
        start = time.perf_counter()
        waiter = asyncio.create_task(
            wait_all_deployed(kube, NAMESPACE, args.units, listing["metadata"]["resourceVersion"])
        )
        latencies, answers = await post_all(shim, args.units, args.concurrency)
        results["answered_seconds"] = time.perf_counter() - start
        await waiter
        results["deployed_seconds"] = time.perf_counter() - start
        results["cpu_seconds"] = meter.stop()
        await asyncio.sleep(2)  # let trailing writes (events, queue clean-up) land
        writes = {k: v for k, v in diff(await write_counts(kube), before).items() if v}
        results["answered_202"] = len(answers)
        results["accepted"] = sum(1 for a in answers if a["success"])
        results["refused_explanations"] = sorted(
            {a["explanation"] for a in answers if not a["success"]}
        )
        results["ratio"] = results["deployed_seconds"] / results["floor_seconds"]
        results["ratio_to_required_writes"] = (
            results["deployed_seconds"] / results["required_writes_seconds"]
        )
        results["p50_ms"] = percentile(latencies, 0.5) * 1000
        results["p99_ms"] = percentile(latencies, 0.99) * 1000
        results["latency"] = describe(latencies)
        results["writes_per_unit"] = {
            f"{verb} {resource}": round(n / args.units, 3)
            for (verb, resource), n in sorted(writes.items())
        }
        if args.control:
            results["control_seconds"] = await control(kube, args.units, repo.url, args.concurrency)
            results["control_ratio"] = results["control_seconds"] / results["floor_seconds"]
            results["control_ratio_to_required_writes"] = (
                results["control_seconds"] / results["required_writes_seconds"]
            )
    finally:
        shim.stop()
        operator.stop()
        repo.stop()
        await kube.aclose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--queue-limit", type=int, default=1000)
    parser.add_argument(
        "--shared-kmodule",
        action="store_true",
        help="give every kjar the same kmodule.xml (one snapshot shared by all units)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="also time the operator alone: the same units created directly by a plain client",
    )
    parser.add_argument(
        "--least-operator",
        action="store_true",
        help="run bench/baselines/least_operator.py (the least kopf operator) instead",
    )
    parser.add_argument("--logs", type=Path, help="keep the operator's and shim's logs here")
    args = parser.parse_args()
    with ControlPlane(binaries.ensure_built()) as plane, tempfile.TemporaryDirectory() as scratch:
        install_crds(plane)
        workdir = Path(scratch)
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            workdir = args.logs
        results = asyncio.run(run(args, plane, workdir))
    print(json.dumps(results, indent=2))
    print(
        f"\n{args.units} deploy requests at once (concurrency {args.concurrency}, queue limit "
        f"{args.queue_limit}): {results['answered_202']} answered 202, "
        f"{results['accepted']} accepted"
    )
    print(
        f"all DEPLOYED after {results['deployed_seconds']:.2f} s, floor "
        f"{results['floor_seconds']:.2f} s, ratio {results['ratio']:.2f} (target <= 2.5)"
    )
    print(
        f"required-writes floor {results['required_writes_seconds']:.2f} s, "
        f"ratio {results['ratio_to_required_writes']:.2f}"
    )
    print(
        f"202 answer: p50 {results['p50_ms']:.1f} ms (target <= 30), "
        f"p99 {results['p99_ms']:.1f} ms (target <= 150)"
    )
    if args.control:
        print(
            f"control, the operator alone (units created directly): "
            f"{results['control_seconds']:.2f} s, ratio {results['control_ratio']:.2f}, "
            f"to the required writes {results['control_ratio_to_required_writes']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
