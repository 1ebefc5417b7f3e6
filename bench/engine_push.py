"""Push benchmark (issue 19): bound units created at once until EngineSynced, against its floor.

    .venv/bin/python bench/engine_push.py [--units 200] [--size 20480] [--concurrency 32]
                                          [--rounds 1] [--memory-units 1000] [--warmup 200]

On two cores every process competes for the same CPU, so the floor is the sum of two parts
measured in the same run, on the same control plane and engine:
  (a) the same creates sent to the engine by a plain client (the engines gateway's own client,
      no operator) at the operator's concurrency;
  (b) the same units converging unbound (stored only, today's path) until Ready.
Then (c): the same units bound to a ProcessEngine for that engine, until all are EngineSynced.
The engine gets --warmup creates first (its JIT compiler would otherwise slow part (a) alone);
--rounds rounds alternate the parts' order (a b c, c b a, ...), and the means are compared.
Prints (a), (b), (c) and c / (a + b) (target <= 1.15); the CPU seconds of each process in each
part, and the ratio of their sums (the steadier figure on a machine shared with other work); the
operator's engine calls per unit in (c) (target: 1 create, no look-up); and the operator's
resident memory with --memory-units units present, bound and unbound, each measured by a freshly
started operator that watches only them (target: bound at most 10 % above).
"""

import argparse
import asyncio
import base64
import json
import os
import re
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CpuMeter, Stopwatch, bounded, client, install_crds, rss_mib
from bench.engine_camunda7 import executable_bpmn
from deployunits.engines import (
    BasicAuth,
    Camunda7Client,
    Camunda7Connection,
    EngineUnavailable,
    NewDeployment,
    NewResource,
)
from deployunits.k8s.raw import KubeClient, core_path, custom_path
from devcluster import binaries, engine
from devcluster.plane import ControlPlane
from devcluster.processes import OperatorProcess

UNITS, ENGINES = "deploymentunits", "processengines"


def content_of(key: str, size: int) -> str:
    return executable_bpmn(key, size)


def unit(name: str, content: str, *, bound: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "deploymentId": name,
        "name": name,
        "resources": {"inline": [{"name": f"{name}.bpmn", "content": content}]},
    }
    if bound:
        spec["engineRef"] = {"name": "camunda"}
    return {
        "apiVersion": "bpm.deployunits.io/v1alpha1",
        "kind": "DeploymentUnit",
        "metadata": {"name": name},
        "spec": spec,
    }


async def make_namespace(kube: KubeClient, name: str) -> None:
    await kube.create(core_path("namespaces"), {"metadata": {"name": name}})


async def add_engine(kube: KubeClient, namespace: str, process: engine.Camunda7Process) -> None:
    """A Secret with the engine's credentials and ProcessEngine `camunda` pointing at it."""
    assert process.credentials is not None
    data = {
        "username": base64.b64encode(process.credentials.username.encode()).decode(),
        "password": base64.b64encode(process.credentials.password.encode()).decode(),
    }
    await kube.create(
        core_path("secrets", namespace),
        {"metadata": {"name": "camunda-auth"}, "data": data},
    )
    await kube.create(
        custom_path(ENGINES, namespace),
        {
            "apiVersion": "bpm.deployunits.io/v1alpha1",
            "kind": "ProcessEngine",
            "metadata": {"name": "camunda"},
            "spec": {
                "camunda7": {"url": process.url, "authSecretRef": {"name": "camunda-auth"}},
            },
        },
    )


async def engine_ready(kube: KubeClient, namespace: str) -> None:
    """Wait (up to two minutes) until ProcessEngine `camunda` of the namespace is Ready."""
    async with asyncio.timeout(120):
        while True:
            found = await kube.get(custom_path(ENGINES, namespace, "camunda"))
            if condition_true(found, "Ready"):
                return
            await asyncio.sleep(0.5)


def condition_true(obj: dict[str, Any], kind: str) -> bool:
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation")
    return status.get("observedGeneration") == generation and any(
        c["type"] == kind and c["status"] == "True" for c in status.get("conditions", [])
    )


async def wait_condition_all(
    kube: KubeClient, namespace: str, count: int, kind: str, version: str
) -> None:
    """Follow a watch until `count` units of the namespace have `kind`=True."""
    finished: set[str] = set()
    while len(finished) < count:
        async for event in kube.watch(
            custom_path(UNITS, namespace),
            resource_version=version,
            params={"fieldSelector": "status.status=DEPLOYED"},
        ):
            obj = event["object"]
            version = obj["metadata"].get("resourceVersion", version)
            if event["type"] != "BOOKMARK" and condition_true(obj, kind):
                finished.add(obj["metadata"]["name"])
            if len(finished) >= count:
                return


async def create_and_wait(
    kube: KubeClient,
    namespace: str,
    names: list[str],
    size: int,
    concurrency: int,
    *,
    bound: bool,
) -> float:
    listing = await kube.get(custom_path(UNITS, namespace), params={"limit": "1"})
    version = listing["metadata"]["resourceVersion"]
    bodies = [unit(n, content_of(n.replace("-", "_"), size), bound=bound) for n in names]
    kind = "EngineSynced" if bound else "Ready"
    with Stopwatch() as watch:
        waiter = asyncio.create_task(wait_condition_all(kube, namespace, len(names), kind, version))
        await bounded(
            concurrency,
            [lambda b=b: kube.create(custom_path(UNITS, namespace), b) for b in bodies],
        )
        await waiter
    return watch.seconds


async def direct_creates(
    process: engine.Camunda7Process, names: list[str], size: int, concurrency: int
) -> float:
    """Part (a): the same creates by a plain client of the engine, as the operator sends them."""
    assert process.credentials is not None
    connection = Camunda7Connection(
        url=process.url,
        credentials=BasicAuth(
            username=process.credentials.username, password=process.credentials.password
        ),
    )
    deployments = [
        NewDeployment(
            name=n,
            source=f"deployunits:{uuid.uuid4()}",
            resources=(
                NewResource(
                    name=f"{n}.bpmn", content=content_of(n.replace("-", "_"), size).encode()
                ),
            ),
        )
        for n in names
    ]
    async with Camunda7Client(connection) as engine_client:

        async def create(deployment: NewDeployment) -> None:
            # As the operator does: an answer that is no refusal (a busy engine's 500 without
            # an engine exception, a 503) is tried again.
            for attempt in range(5):
                try:
                    await engine_client.create_deployment(deployment)
                    return
                except EngineUnavailable:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.5 * 2**attempt)

        with Stopwatch() as watch:
            await bounded(concurrency, [lambda d=d: create(d) for d in deployments])
    return watch.seconds


def engine_calls(operator: OperatorProcess) -> dict[str, float]:
    """The operator's engine calls so far, by call (its /metrics)."""
    url = f"http://127.0.0.1:{operator.probe_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for match in re.finditer(
        r'^deployunits_engine_calls_total\{call="([^"]+)"\} (\S+)$', text, re.M
    ):
        found[match.group(1)] = float(match.group(2))
    return found


async def settled_rss(
    plane: ControlPlane, scratch: Path, namespace: str, *, seconds: float = 20.0
) -> float:
    """RSS of a fresh operator that watches only `namespace`, once it has settled."""
    operator = OperatorProcess(
        plane.kubeconfig,
        scratch / f"operator-{namespace}.log",
        env={
            "DEPLOYUNITS_NAMESPACES": json.dumps([namespace]),
            "DEPLOYUNITS_LOG_LEVEL": "WARNING",
        },
    )
    operator.start(timeout=300)
    try:
        await asyncio.sleep(seconds)
        assert operator.popen is not None
        return rss_mib(operator.popen.pid)
    finally:
        operator.stop()


async def run(
    args: argparse.Namespace,
    plane: ControlPlane,
    process: engine.Camunda7Process,
    scratch: Path,
) -> dict[str, Any]:
    kube = client(plane.kubeconfig)
    results: dict[str, Any] = {
        "units": args.units,
        "resource_bytes": len(content_of("bench_size", args.size)),
        "concurrency": args.concurrency,
    }
    rounds = range(args.rounds)
    operator = OperatorProcess(
        plane.kubeconfig,
        scratch / "operator.log",
        env={
            "DEPLOYUNITS_NAMESPACES": json.dumps(
                [f"{kind}-{r}" for r in rounds for kind in ("unbound", "bound")]
            ),
            "DEPLOYUNITS_LOG_LEVEL": "WARNING",
            "DEPLOYUNITS_MAX_CONCURRENT_RECONCILES": str(args.concurrency),
        },
    )
    try:
        for namespace in ("mem-unbound", "mem-bound"):
            await make_namespace(kube, namespace)
        await add_engine(kube, "mem-bound", process)
        for r in rounds:
            await make_namespace(kube, f"unbound-{r}")
            await make_namespace(kube, f"bound-{r}")
            await add_engine(kube, f"bound-{r}", process)
        operator.start(timeout=300)
        assert operator.popen is not None and process.pid is not None
        pids = {**plane.processes(), "engine": process.pid, "operator": operator.popen.pid}
        pids["bench"] = os.getpid()
        for r in rounds:
            await engine_ready(kube, f"bound-{r}")
        run_id = uuid.uuid4().hex[:6]
        # The JVM compiles its hot paths during the first creates: warmed up, part (a) measures
        # the engine as parts (b) and (c) find it.
        warm = [f"warmup-{run_id}-{i}" for i in range(args.warmup)]
        results["warmup_creates"] = args.warmup
        await direct_creates(process, warm, args.size, args.concurrency)

        async def part(name: str, r: int) -> float:
            if name == "a":
                names = [f"direct-{run_id}-{r}-{i}" for i in range(args.units)]
                return await direct_creates(process, names, args.size, args.concurrency)
            bound = name == "c"
            namespace = f"{'bound' if bound else 'unbound'}-{r}"
            names = [f"{namespace}-{i}" for i in range(args.units)]
            return await create_and_wait(
                kube, namespace, names, args.size, args.concurrency, bound=bound
            )

        # Rounds alternate the order (a b c, then c b a, ...): the machine's load drifts, and
        # each part meets it early and late alike.
        seconds: dict[str, list[float]] = {"a": [], "b": [], "c": []}
        cpu: dict[str, dict[str, float]] = {k: dict.fromkeys(pids, 0.0) for k in seconds}
        meter = CpuMeter(pids)
        before = engine_calls(operator)
        for r in rounds:
            for name in "abc" if r % 2 == 0 else "cba":
                meter.start()
                seconds[name].append(await part(name, r))
                print(f"round {r}, part ({name}): {seconds[name][-1]:.2f} s", file=sys.stderr)
                for process_name, used in meter.stop().items():
                    cpu[name][process_name] += used
        await asyncio.sleep(1)
        after = engine_calls(operator)
        bound_units = args.units * args.rounds
        results["c_engine_calls_per_unit"] = {
            call: round((after.get(call, 0.0) - before.get(call, 0.0)) / bound_units, 3)
            for call in sorted(set(after) | set(before))
            if after.get(call, 0.0) != before.get(call, 0.0)
        }
        for key, label in (("a", "direct"), ("b", "unbound"), ("c", "bound")):
            results[f"{key}_{label}_seconds_per_round"] = [round(t, 2) for t in seconds[key]]
            results[f"{key}_{label}_seconds"] = sum(seconds[key]) / args.rounds
            results[f"{key}_cpu_seconds"] = {
                n: round(v / args.rounds, 2) for n, v in cpu[key].items()
            }
        floor = results["a_direct_seconds"] + results["b_unbound_seconds"]
        results["ratio"] = results["c_bound_seconds"] / floor
        # On a machine shared with other work, wall time follows the others' load; the CPU
        # seconds all processes spent are the steadier comparison.
        spent = {key: sum(results[f"{key}_cpu_seconds"].values()) for key in "abc"}
        results["cpu_ratio"] = spent["c"] / (spent["a"] + spent["b"])
        operator.stop()

        if args.memory_units:
            small = 1024
            for namespace, bound in (("mem-unbound", False), ("mem-bound", True)):
                fill = OperatorProcess(
                    plane.kubeconfig,
                    scratch / f"fill-{namespace}.log",
                    env={
                        "DEPLOYUNITS_NAMESPACES": json.dumps([namespace]),
                        "DEPLOYUNITS_LOG_LEVEL": "WARNING",
                    },
                )
                fill.start(timeout=300)
                try:
                    if bound:
                        await engine_ready(kube, namespace)
                    names = [f"m-{i}" for i in range(args.memory_units)]
                    with Stopwatch() as watch:
                        await create_and_wait(
                            kube, namespace, names, small, args.concurrency, bound=bound
                        )
                    results[f"fill_{namespace}_seconds"] = round(watch.seconds, 1)
                finally:
                    fill.stop()
                results[f"rss_mib_{namespace}"] = round(
                    await settled_rss(plane, scratch, namespace), 1
                )
            results["rss_bound_over_unbound"] = round(
                results["rss_mib_mem-bound"] / results["rss_mib_mem-unbound"], 3
            )
    finally:
        operator.stop()
        await kube.aclose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--size", type=int, default=20 * 1024)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--memory-units", type=int, default=1000)
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of (a), (b), (c), in alternating order"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="engine creates before part (a), not measured"
    )
    args = parser.parse_args()
    started = time.monotonic()
    with (
        ControlPlane(binaries.ensure_built()) as plane,
        tempfile.TemporaryDirectory() as scratch,
    ):
        install_crds(plane)
        credentials = engine.BasicCredentials("bench", uuid.uuid4().hex)
        process = engine.Camunda7Process(
            engine.ensure_built(), Path(scratch) / "engine.log", credentials
        )
        with process:
            results = asyncio.run(run(args, plane, process, Path(scratch)))
    print(json.dumps(results, indent=2))
    a, b, c = results["a_direct_seconds"], results["b_unbound_seconds"], results["c_bound_seconds"]
    print(
        f"\n{args.units} units of {results['resource_bytes']} bytes, concurrency "
        f"{args.concurrency}, means of {args.rounds} rounds: bound until EngineSynced "
        f"{c:.2f} s; floor (a) direct creates {a:.2f} s + (b) unbound until Ready "
        f"{b:.2f} s = {a + b:.2f} s; ratio "
        f"{results['ratio']:.2f} (target <= 1.15)"
    )
    print(f"CPU seconds of all processes: bound / (direct + unbound) = {results['cpu_ratio']:.2f}")
    print(f"engine calls per unit while pushing: {results['c_engine_calls_per_unit']}")
    if "rss_bound_over_unbound" in results:
        print(
            f"operator RSS with {args.memory_units} units: bound "
            f"{results['rss_mib_mem-bound']} MiB, unbound {results['rss_mib_mem-unbound']} MiB, "
            f"ratio {results['rss_bound_over_unbound']:.3f} (target <= 1.10)"
        )
    print(f"(whole run {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
