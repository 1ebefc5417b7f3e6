"""Large resources through the shim and the operator: time, stored objects and peak memory.

    .venv/bin/python bench/large_content.py

Starts the embedded control plane with the operator and a shim, then uploads through the
Camunda dialect a 10 MiB BPMN (documentation that gzips about fivefold) and a unit of five
10 MiB resources (noise that does not shrink, 50 MiB in all), each read back whole. Prints per
upload the create's time, the snapshot ConfigMaps it took (indexes and parts), the read-back
time, and the peak resident memory (VmHWM) of the shim and of the operator after each, beside
their idle figures. Figures only; nothing is asserted.
"""

import asyncio
import random
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Stopwatch, client, install_crds, rss_mib
from deployunits import constants
from deployunits.k8s.raw import core_path
from devcluster import binaries
from devcluster.plane import ControlPlane
from devcluster.processes import OperatorProcess, ShimProcess

NAMESPACE = "bench"
MIB = 1024 * 1024


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def documented_bpmn(size: int) -> bytes:
    words = ["order", "invoice", "approve", "customer", "shipment", "review", "escalate"]
    rng = random.Random(size)
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        b'targetNamespace="http://bench"><process id="large" isExecutable="true"><documentation>'
    )
    tail = b'</documentation><startEvent id="s"/></process></definitions>'
    room = size - len(head) - len(tail)
    prose = " ".join(f"{rng.choice(words)}{rng.randrange(100)}" for _ in range(room // 8 + 1))
    return head + prose.encode()[:room] + tail


async def stored_config_maps(kubeconfig: Path) -> tuple[int, int]:
    """(snapshot ConfigMaps, snapshot parts) in the namespace."""
    kube = client(kubeconfig)
    try:
        counts = []
        for label in (constants.SNAPSHOT_LABEL, constants.SNAPSHOT_PART_LABEL):
            page = await kube.get(
                core_path("configmaps", NAMESPACE), params={"labelSelector": label}
            )
            counts.append(len(page.get("items") or []))
    finally:
        await kube.aclose()
    return counts[0], counts[1]


async def upload(
    base: str, label: str, resources: dict[str, bytes], pids: dict[str, int], kubeconfig: Path
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=600) as http:
        files = [(f"r{i}", (name, data)) for i, (name, data) in enumerate(resources.items())]
        with Stopwatch() as create:
            response = await http.post(
                "/deployment/create", data={"deployment-name": label}, files=files
            )
        if response.status_code != 200:
            raise RuntimeError(f"{label}: {response.status_code} {response.text[:300]}")
        deployment = response.json()["id"]
        listed = (await http.get(f"/deployment/{deployment}/resources")).json()
        with Stopwatch() as read:
            for item in listed:
                data = await http.get(f"/deployment/{deployment}/resources/{item['id']}/data")
                if data.content != resources[item["name"]]:
                    raise RuntimeError(f"{label}: {item['name']} did not read back whole")
    indexes, parts = await stored_config_maps(kubeconfig)
    total = sum(map(len, resources.values())) / MIB
    print(
        f"{label}: {len(resources)} resource(s), {total:.0f} MiB: create {create.seconds:.1f} s, "
        f"read back {read.seconds:.1f} s; snapshot ConfigMaps so far {indexes} + {parts} parts; "
        + ", ".join(f"{name} peak {peak_mib(pid):.0f} MiB" for name, pid in pids.items()),
        flush=True,
    )


async def create_namespace(kubeconfig: Path) -> None:
    kube = client(kubeconfig)
    try:
        await kube.create(core_path("namespaces"), {"metadata": {"name": NAMESPACE}})
    finally:
        await kube.aclose()


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-large-"))
    plane = ControlPlane(binaries.ensure_built(), workdir=workdir / "plane")
    plane.start()
    operator = OperatorProcess(plane.kubeconfig, workdir / "operator.log")
    try:
        install_crds(plane)
        asyncio.run(create_namespace(plane.kubeconfig))
        operator.start()
        with ShimProcess(
            plane.kubeconfig, workdir / "shim.log", namespace=NAMESPACE
        ).serving() as shim:
            assert shim.popen is not None and operator.popen is not None
            pids = {"shim": shim.popen.pid, "operator": operator.popen.pid}
            print(
                "idle: "
                + ", ".join(f"{name} RSS {rss_mib(pid):.0f} MiB" for name, pid in pids.items()),
                flush=True,
            )
            base = shim.engine(NAMESPACE)
            asyncio.run(
                upload(
                    base,
                    "10 MiB BPMN",
                    {"large.bpmn": documented_bpmn(10 * MIB)},
                    pids,
                    plane.kubeconfig,
                )
            )
            rng = random.Random(5)
            noise = {f"r{i}.png": rng.randbytes(10 * MIB) for i in range(5)}
            asyncio.run(upload(base, "50 MiB unit", noise, pids, plane.kubeconfig))
    finally:
        operator.stop()
        plane.stop()


if __name__ == "__main__":
    main()
