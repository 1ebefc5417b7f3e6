"""Shared benchmark plumbing: a control plane, an async API client, apiserver metrics, RSS."""

import asyncio
import os
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from deployunits.k8s.connection import Connection
from deployunits.k8s.raw import KubeClient
from devcluster import binaries, install
from devcluster.plane import ControlPlane

BPMN_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" '
    'targetNamespace="http://bpmn.io/schema/bpmn">'
)


def sized_bpmn(key: str, size: int) -> str:
    """A valid BPMN document of about `size` bytes (a chain of tasks)."""
    parts = [BPMN_HEADER, f'<bpmn:process id="{key}" name="{key}" isExecutable="true">']
    index = 0
    while sum(map(len, parts)) < size - 200:
        parts.append(f'<bpmn:task id="t{index}" name="Task number {index} of {key}"/>')
        index += 1
    parts.append("</bpmn:process></bpmn:definitions>")
    return "".join(parts)


async def wait_until_all(
    kube: KubeClient,
    path: str,
    count: int,
    resource_version: str,
    done: Callable[[dict[str, Any]], bool],
    field_selector: str | None = None,
) -> None:
    """Follow a watch until `count` objects have been seen with done(object) true.

    A field selector narrows the watch on the server to the objects worth looking at.
    """
    finished: set[str] = set()
    version = resource_version
    params = {"fieldSelector": field_selector} if field_selector else None
    while len(finished) < count:
        async for event in kube.watch(path, resource_version=version, params=params):
            obj = event["object"]
            version = obj["metadata"].get("resourceVersion", version)
            if event["type"] != "BOOKMARK" and done(obj):
                finished.add(obj["metadata"]["name"])
            if len(finished) >= count:
                return


def observed(obj: dict[str, Any]) -> bool:
    """The operator has acted on the object's current generation."""
    status = obj.get("status") or {}
    return bool(status.get("observedGeneration") == obj["metadata"].get("generation"))


def client(kubeconfig: Path, connections: int = 64) -> KubeClient:
    return KubeClient(Connection.load(str(kubeconfig)), max_connections=connections)


async def bounded(concurrency: int, jobs: Iterable[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the jobs with at most `concurrency` at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


_SAMPLE = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$")


async def write_counts(kube: KubeClient) -> dict[tuple[str, str], float]:
    """(verb, resource) → count of mutating requests so far, from kube-apiserver's /metrics."""
    text = await kube.get_text("/metrics")
    counts: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if labels.get("verb") in {"POST", "PATCH", "PUT", "DELETE", "CREATE", "APPLY", "UPDATE"}:
            key = (labels["verb"], labels.get("resource", "") + "/" + labels.get("subresource", ""))
            counts[key] = counts.get(key, 0.0) + float(match.group(2))
    return counts


def diff(
    after: dict[tuple[str, str], float], before: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    keys = set(after) | set(before)
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) != before.get(k, 0)
    }


def least_operator_command() -> list[str]:
    """bench/baselines/least_operator.py, to start in the operator's place (its `command`)."""
    return [sys.executable, str(Path(__file__).parent / "baselines" / "least_operator.py")]


def install_crds(plane: ControlPlane) -> None:
    """The CRDs and the finalizer policy on the benchmark's own control plane."""
    install.install_crds(binaries.kubectl(), plane.kubeconfig, admission=True)


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class CpuMeter:
    """CPU seconds each named process uses between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        return {
            name: round(cpu_seconds(pid) - self.before[name], 2) for name, pid in self.pids.items()
        }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    mean = statistics.mean(values) * 1000
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, mean {mean:.1f} ms (n={len(values)})"


class Stopwatch:
    def __enter__(self) -> "Stopwatch":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.start
