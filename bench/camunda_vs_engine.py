"""The Camunda dialect side by side with the real Camunda 7 engine: the same calls, one run.

    .venv/bin/python bench/camunda_vs_engine.py [--deployments 2000,10000] [--samples 100]
                                                [--floor 1000]

Starts the embedded control plane, and measures there first the floor of a create through the
shim (bench/baselines/shim_create.py: its required API requests by a plain client, `--floor` of
them from 8 clients, then one by one), before the operator starts. Then starts the operator, an
unbound shim and the project's Camunda 7.24 engine (H2, basic auth). For each size it fills both
sides up to that many deployments with the same REST creates from 8 concurrent clients (bulk
create throughput, per second), then sends the same calls to each side in turn: create p50/p99
(one client), the first page, a page sorted by time at an offset, `nameLike` + `tenantIdIn`, one
deployment, and the count. Prints each figure for both and the ratio shim/engine, and the
floor's throughput and latency against the engine's. Issue 16's targets: create p50 at most
1.5x the engine's, bulk create at least the engine's throughput, every read at most 1.0x.
Figures only; nothing is asserted. Both sides share the machine's cores with everything else.
"""

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baselines import shim_create
from bench.common import CpuMeter, Stopwatch, client, install_crds, percentile, rss_mib
from deployunits import constants
from deployunits.k8s.raw import core_path
from devcluster import binaries, engine
from devcluster.plane import ControlPlane
from devcluster.processes import OperatorProcess, ShimProcess

NAMESPACE = "bench"
FLOOR_NAMESPACE = "floor"
CLIENTS = 8


def bpmn(key: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        f'targetNamespace="http://bench"><process id="{key}" name="{key}" isExecutable="true">'
        '<startEvent id="s"/></process></definitions>'
    ).encode()


def form(index: int, run: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """The create form of deployment `index`: 100 names, 7 tenants on two thirds of them."""
    fields = {"deployment-name": f"bench {index % 100}", "deployment-source": run}
    if index % 3:
        fields["tenant-id"] = f"t{index % 7}"
    key = f"p{run}_{index}"
    return fields, {"data": (f"{key}.bpmn", bpmn(key))}


class Side:
    """One server under test and its figures."""

    def __init__(self, name: str, base: str, auth: httpx.Auth | None, pid: int) -> None:
        self.name = name
        self.base = base
        self.auth = auth
        self.pid = pid

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, auth=self.auth, timeout=120)

    async def create(self, http: httpx.AsyncClient, index: int, run: str) -> str:
        fields, files = form(index, run)
        response = await http.post("/deployment/create", data=fields, files=files)
        if response.status_code != 200:
            raise RuntimeError(f"{self.name} create: {response.status_code} {response.text[:300]}")
        return str(response.json()["id"])


async def fill(side: Side, start: int, stop: int, run: str) -> float:
    """Creates number start..stop-1 from CLIENTS clients; creates per second."""
    indexes = iter(range(start, stop))

    async def worker() -> None:
        async with side.client() as http:
            for index in indexes:
                await side.create(http, index, run)

    with Stopwatch() as watch:
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return (stop - start) / watch.seconds


async def sample(
    sides: list[Side], samples: int, call: Callable[[Side, httpx.AsyncClient, int], Any]
) -> dict[str, list[float]]:
    """Latencies of `call` on each side, the sides taking turns (drift hits both alike)."""
    latencies: dict[str, list[float]] = {side.name: [] for side in sides}
    clients = {side.name: side.client() for side in sides}
    try:
        for index in range(samples + 5):
            for side in sides:
                started = time.perf_counter()
                await call(side, clients[side.name], index)
                if index >= 5:  # the first few warm connections and caches up
                    latencies[side.name].append(time.perf_counter() - started)
    finally:
        for http in clients.values():
            await http.aclose()
    return latencies


def get(path: str, **params: str) -> Callable[[Side, httpx.AsyncClient, int], Any]:
    async def call(side: Side, http: httpx.AsyncClient, _: int) -> None:
        response = await http.get(path, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{side.name} GET {path}: {response.status_code}")

    return call


def report(label: str, latencies: dict[str, list[float]], target: float) -> None:
    engine_p50 = percentile(latencies["engine"], 0.5) * 1000
    shim_p50 = percentile(latencies["shim"], 0.5) * 1000
    engine_p99 = percentile(latencies["engine"], 0.99) * 1000
    shim_p99 = percentile(latencies["shim"], 0.99) * 1000
    ratio = shim_p50 / engine_p50
    verdict = "met" if ratio <= target else "NOT met"
    print(
        f"{label:34s} engine p50 {engine_p50:7.1f} p99 {engine_p99:7.1f} ms | "
        f"shim p50 {shim_p50:7.1f} p99 {shim_p99:7.1f} ms | {ratio:5.2f}x "
        f"(target <= {target}x: {verdict})",
        flush=True,
    )


@dataclass(frozen=True)
class Floor:
    """What the API server and etcd alone need for creates (bench/baselines/shim_create.py)."""

    rate: float
    p50: float
    cpu_ms: float


async def measure(sides: list[Side], sizes: list[int], samples: int, floor: Floor) -> None:
    run = uuid.uuid4().hex[:6]
    filled = 0
    for size in sizes:
        print(f"\n== {size} deployments on each side ==", flush=True)
        rates = {}
        for side in sides:
            rates[side.name] = await fill(side, filled, size, run)
        filled = size
        ratio = rates["shim"] / rates["engine"]
        print(
            f"{'bulk create, ' + str(CLIENTS) + ' clients':34s} engine {rates['engine']:6.1f}/s"
            f" | shim {rates['shim']:6.1f}/s | {ratio:5.2f}x "
            f"(target >= 1.0x: {'met' if ratio >= 1.0 else 'NOT met'})",
            flush=True,
        )
        print(
            f"{'  floor, same clients':34s} {floor.rate:6.1f}/s: "
            f"{floor.rate / rates['engine']:.2f}x the engine's; "
            f"the shim reaches {rates['shim'] / floor.rate:.2f} of it",
            flush=True,
        )
        created = iter(range(10_000_000 + size * 10, 10_000_000 + size * 10 + 10 * samples))

        async def create(
            side: Side, http: httpx.AsyncClient, _: int, created: Iterator[int] = created
        ) -> None:
            await side.create(http, next(created), run)

        latencies = await sample(sides, samples, create)
        report("create, one client", latencies, 1.5)
        engine_p50 = percentile(latencies["engine"], 0.5)
        print(
            f"{'  floor, one client':34s} p50 {floor.p50 * 1000:7.1f} ms: "
            f"{floor.p50 / engine_p50:.2f}x the engine's",
            flush=True,
        )
        for label, call in (
            ("GET /deployment?maxResults=100", get("/deployment", maxResults="100")),
            (
                "  firstResult=1000, by time desc",
                get(
                    "/deployment",
                    maxResults="100",
                    firstResult="1000",
                    sortBy="deploymentTime",
                    sortOrder="desc",
                ),
            ),
            (
                "  nameLike + tenantIdIn",
                get("/deployment", maxResults="100", nameLike="bench 4%", tenantIdIn="t1,t2"),
            ),
            ("GET /deployment/count", get("/deployment/count")),
        ):
            report(label, await sample(sides, samples, call), 1.0)
        ids: dict[str, list[str]] = {}
        for side in sides:
            async with side.client() as http:
                page = await http.get("/deployment", params={"maxResults": "500"})
                ids[side.name] = [d["id"] for d in page.json()]

        async def one(
            side: Side, http: httpx.AsyncClient, index: int, ids: dict[str, list[str]] = ids
        ) -> None:
            listed = ids[side.name]
            response = await http.get(f"/deployment/{listed[index % len(listed)]}")
            if response.status_code != 200:
                raise RuntimeError(f"{side.name} GET one: {response.status_code}")

        report("GET /deployment/{id}", await sample(sides, samples, one), 1.0)
        print(
            "resident memory: "
            + ", ".join(f"{side.name} {rss_mib(side.pid):.0f} MiB" for side in sides),
            flush=True,
        )


async def create_namespace(kubeconfig: Path, name: str = NAMESPACE) -> None:
    kube = client(kubeconfig)
    try:
        await kube.create(core_path("namespaces"), {"metadata": {"name": name}})
    finally:
        await kube.aclose()


async def measure_floor(plane: ControlPlane, count: int, samples: int) -> Floor:
    """The required requests of `count` creates from CLIENTS clients, then `samples` one by
    one; the floor's units are deleted again before the operator starts."""
    await create_namespace(plane.kubeconfig, FLOOR_NAMESPACE)
    kube = client(plane.kubeconfig)
    pids = plane.processes()
    meter = CpuMeter({name: pids[name] for name in ("kube-apiserver", "etcd")})
    uploads = [(f"f{i}.bpmn", bpmn(f"f{i}")) for i in range(count + samples + 5)]
    try:
        async with shim_create.watched(kube, FLOOR_NAMESPACE):
            meter.start()
            with Stopwatch() as watch:
                await shim_create.creates(kube, FLOOR_NAMESPACE, uploads[:count], CLIENTS, 0)
            cpu = sum(meter.stop().values())
            latencies = await shim_create.creates(kube, FLOOR_NAMESPACE, uploads[count:], 1, count)
        await shim_create.remove(kube, FLOOR_NAMESPACE, CLIENTS)
        # The garbage collector removes the snapshots next: let it finish before the engine's
        # side and the shim's are measured.
        snapshots = {"labelSelector": constants.SNAPSHOT_LABEL, "limit": "1"}
        for _ in range(600):
            if not (await kube.get(core_path("configmaps", FLOOR_NAMESPACE), snapshots))["items"]:
                break
            await asyncio.sleep(1)
    finally:
        await kube.aclose()
    return Floor(count / watch.seconds, percentile(latencies[5:], 0.5), cpu * 1000 / count)


def run(args: argparse.Namespace) -> None:
    sizes = sorted(int(size) for size in args.deployments.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="bench-vs-engine-"))
    plane = ControlPlane(binaries.ensure_built(), workdir=workdir / "plane")
    plane.start()
    operator = OperatorProcess(plane.kubeconfig, workdir / "operator.log")
    try:
        install_crds(plane)
        asyncio.run(create_namespace(plane.kubeconfig))
        floor = asyncio.run(measure_floor(plane, args.floor, args.samples))
        print(
            f"floor (bench/baselines/shim_create.py): {floor.rate:.1f}/s from {CLIENTS} clients, "
            f"one client p50 {floor.p50 * 1000:.1f} ms; API server + etcd CPU "
            f"{floor.cpu_ms:.2f} ms per create",
            flush=True,
        )
        operator.start()
        credentials = engine.BasicCredentials("bench", uuid.uuid4().hex)
        with (
            ShimProcess(
                plane.kubeconfig, workdir / "shim.log", namespace=NAMESPACE
            ).serving() as shim,
            engine.Camunda7Process(
                engine.ensure_built(), workdir / "engine.log", credentials
            ) as camunda,
        ):
            assert camunda.pid is not None and shim.popen is not None
            sides = [
                Side(
                    "engine",
                    camunda.url,
                    httpx.BasicAuth(credentials.username, credentials.password),
                    camunda.pid,
                ),
                Side("shim", shim.engine(NAMESPACE), None, shim.popen.pid),
            ]
            asyncio.run(measure(sides, sizes, args.samples, floor))
    finally:
        operator.stop()
        plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", default="2000,10000")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--floor", type=int, default=1000, help="creates of the floor's bulk part")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
