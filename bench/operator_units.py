"""Operator benchmark: units created at once until Ready vs. a plain client's floor; writes; RSS.

    .venv/bin/python bench/operator_units.py [--units 1000] [--size 20480] [--concurrency 32]
                                             [--memory-units 10000] [--least-operator]

Prints: time until all units are Ready, the floor (the same creates plus one status patch each by
a plain client at the same concurrency), their ratio (target <= 2.0), and the ratio to the
required-writes floor (bench/baselines/required_writes.py: the create, snapshot, full status and
Event of each unit by a plain client, the operator's watches open); the operator's API writes
per unit, by verb and resource, from kube-apiserver's apiserver_request_total (target <= 3); the
CPU seconds each process used in both phases (where the time goes); and the operator's resident
memory with --memory-units units present (target <= 300 MiB). With --least-operator, the same
run with bench/baselines/least_operator.py in the operator's place: the bound any kopf operator
meets.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baselines.required_writes import required_writes
from bench.common import (
    CpuMeter,
    Stopwatch,
    bounded,
    client,
    diff,
    install_crds,
    least_operator_command,
    observed,
    rss_mib,
    sized_bpmn,
    wait_until_all,
    write_counts,
)
from deployunits.k8s.raw import KubeClient, core_path, custom_path
from devcluster import binaries
from devcluster.plane import ControlPlane
from devcluster.processes import OperatorProcess

PLURAL = "deploymentunits"


def own_content(name: str, content: str) -> str:
    """Every unit gets its own process key, hence its own content and snapshot."""
    return content.replace('"bench"', f'"{name}"')


def unit(name: str, content: str) -> dict[str, Any]:
    content = own_content(name, content)
    return {
        "apiVersion": "bpm.deployunits.io/v1alpha1",
        "kind": "DeploymentUnit",
        "metadata": {"name": name},
        "spec": {
            "deploymentId": name,
            "resources": {"inline": [{"name": f"{name}.bpmn", "content": content}]},
        },
    }


async def make_namespace(kube: KubeClient, name: str) -> None:
    await kube.create(core_path("namespaces"), {"metadata": {"name": name}})


async def floor(
    kube: KubeClient, namespace: str, count: int, content: str, concurrency: int
) -> float:
    """The same creates plus one status patch each, by a plain client."""
    status = {"status": {"observedGeneration": 1, "status": "DEPLOYED"}}

    async def one(index: int) -> None:
        name = f"floor-{index}"
        await kube.create(custom_path(PLURAL, namespace), unit(name, content))
        await kube.patch(custom_path(PLURAL, namespace, name, "status"), status)

    with Stopwatch() as watch:
        await bounded(concurrency, [lambda i=i: one(i) for i in range(count)])
    return watch.seconds


def ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions", [])
    return observed(obj) and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def wait_all_ready(
    kube: KubeClient, namespace: str, count: int, resource_version: str
) -> None:
    """Follow a watch until every unit in the namespace has Ready=True at its generation.

    Like `kubectl wait`, but the watch only brings units the API server already sees DEPLOYED
    (a selectable field of the CRD): the benchmark's own watching is not the operator's cost.
    """
    await wait_until_all(
        kube,
        custom_path(PLURAL, namespace),
        count,
        resource_version,
        ready,
        field_selector="status.status=DEPLOYED",
    )


async def create_and_wait(
    kube: KubeClient, namespace: str, count: int, content: str, concurrency: int, prefix: str
) -> float:
    listing = await kube.get(custom_path(PLURAL, namespace), params={"limit": "1"})
    start_version = listing["metadata"]["resourceVersion"]
    with Stopwatch() as watch:
        waiter = asyncio.create_task(wait_all_ready(kube, namespace, count, start_version))
        await bounded(
            concurrency,
            [
                lambda i=i: kube.create(
                    custom_path(PLURAL, namespace), unit(f"{prefix}-{i}", content)
                )
                for i in range(count)
            ],
        )
        await waiter
    return watch.seconds


async def run(
    args: argparse.Namespace, plane: ControlPlane, operator: OperatorProcess
) -> dict[str, Any]:
    kube = client(plane.kubeconfig)
    content = sized_bpmn("bench", args.size)
    results: dict[str, Any] = {
        "units": args.units,
        "resource_bytes": len(content),
        "concurrency": args.concurrency,
    }
    try:
        await make_namespace(kube, "floor")
        await make_namespace(kube, "bench")
        pids = {**plane.processes(), "bench": os.getpid()}
        meter = CpuMeter(pids)
        meter.start()
        results["floor_seconds"] = await floor(kube, "floor", args.units, content, args.concurrency)
        results["floor_cpu_seconds"] = meter.stop()
        await make_namespace(kube, "required")
        units = [
            (
                unit(f"req-{i}", content),
                {f"req-{i}.bpmn": own_content(f"req-{i}", content).encode()},
            )
            for i in range(args.units)
        ]
        results["required_writes_seconds"] = await required_writes(
            kube, "required", units, args.concurrency
        )
        operator.start()
        assert operator.popen is not None
        meter = CpuMeter({**pids, "operator": operator.popen.pid})
        before = await write_counts(kube)
        meter.start()
        results["operator_seconds"] = await create_and_wait(
            kube, "bench", args.units, content, args.concurrency, "u"
        )
        results["operator_cpu_seconds"] = meter.stop()
        await asyncio.sleep(2)  # let trailing writes (events) land before counting
        writes = diff(await write_counts(kube), before)
        # The benchmark itself created the units; everything else was the operator.
        writes[("POST", "deploymentunits/")] = (
            writes.get(("POST", "deploymentunits/"), 0) - args.units
        )
        writes = {k: v for k, v in writes.items() if v}
        results["ratio"] = results["operator_seconds"] / results["floor_seconds"]
        results["ratio_to_required_writes"] = (
            results["operator_seconds"] / results["required_writes_seconds"]
        )
        results["writes_per_unit"] = {
            f"{v} {r}": round(n / args.units, 2) for (v, r), n in sorted(writes.items())
        }
        results["writes_per_unit_total"] = round(sum(writes.values()) / args.units, 2)
        results["writes_per_unit_without_events"] = round(
            sum(n for (v, r), n in writes.items() if not r.startswith("events")) / args.units, 2
        )
        assert operator.popen is not None
        results["operator_rss_mib_after_units"] = round(rss_mib(operator.popen.pid), 1)
        if args.memory_units:
            small = sized_bpmn("bench", 1024)
            extra = args.memory_units - args.units
            await make_namespace(kube, "memory")
            with Stopwatch() as watch:
                await create_and_wait(kube, "memory", extra, small, args.concurrency, "m")
            results["memory_units_present"] = args.memory_units
            results["memory_fill_seconds"] = round(watch.seconds, 1)
            await asyncio.sleep(5)
            results["operator_rss_mib_with_memory_units"] = round(rss_mib(operator.popen.pid), 1)
            # The same units seen by a freshly started operator (its steady state, without the
            # allocator's high-water mark from absorbing the creation burst).
            operator.stop()
            operator.start(timeout=300)
            await asyncio.sleep(20)
            assert operator.popen is not None
            results["operator_rss_mib_after_restart"] = round(rss_mib(operator.popen.pid), 1)
    finally:
        await kube.aclose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--size", type=int, default=20 * 1024)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--memory-units", type=int, default=0, help="total units for the RSS figure (e.g. 10000)"
    )
    parser.add_argument(
        "--least-operator",
        action="store_true",
        help="run bench/baselines/least_operator.py (the least kopf operator) instead",
    )
    args = parser.parse_args()
    with ControlPlane(binaries.ensure_built()) as plane, tempfile.TemporaryDirectory() as scratch:
        install_crds(plane)
        operator = OperatorProcess(
            plane.kubeconfig,
            Path(scratch) / "operator.log",
            env={
                "DEPLOYUNITS_NAMESPACES": json.dumps(["bench", "memory"]),
                "DEPLOYUNITS_LOG_LEVEL": "WARNING",
            },
            command=least_operator_command() if args.least_operator else None,
        )
        try:
            results = asyncio.run(run(args, plane, operator))
        finally:
            operator.stop()
    print(json.dumps(results, indent=2))
    print(
        f"\n{args.units} units of {results['resource_bytes']} bytes: "
        f"operator {results['operator_seconds']:.2f} s, floor {results['floor_seconds']:.2f} s, "
        f"ratio {results['ratio']:.2f} (target <= 2.0)"
    )
    print(
        f"required-writes floor {results['required_writes_seconds']:.2f} s, "
        f"ratio {results['ratio_to_required_writes']:.2f}"
    )
    print(
        f"operator API writes per unit: {results['writes_per_unit_total']} "
        f"({results['writes_per_unit_without_events']} without Events; target <= 3)"
    )
    if "operator_rss_mib_with_memory_units" in results:
        print(
            f"operator RSS with {results['memory_units_present']} units: "
            f"{results['operator_rss_mib_with_memory_units']} MiB right after creating them, "
            f"{results['operator_rss_mib_after_restart']} MiB after a restart (target <= 300)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
