"""The engine-bound shim in front of a real Camunda 7 engine: what the sidecar adds.

    .venv/bin/python bench/sidecar.py [--samples 300] [--creates 30] [--download-mib 50]

Starts its own control plane, the operator, a Camunda 7 engine (basic auth) with a
ProcessEngine, a shim bound to it and an unbound shim, then prints, all in one run against the
same engine:

- p50 and p99 of a forwarded `GET /process-definition/count` and
  `POST /process-definition/key/{key}/start` through the bound shim versus straight to the
  engine (target: at most 2 ms added at p50, and at most 1.2x the direct p50); the count also
  through bench/baselines/least_forwarder.py, the floor of any Python second hop;
- create of a one-resource deployment through the bound shim versus the sum of the engine's
  direct create p50 and the unbound shim's create p50, the two hops the call makes (target: at
  most that sum plus 5 ms at p50);
- the bound shim's resident memory idle and at its peak while a --download-mib Bytes variable is
  downloaded through the pass-through (target: under 30 MiB above idle).

Figures only; nothing is asserted. On a shared machine the latencies move with the load.
"""

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_seconds, describe, install_crds, percentile, rss_mib
from devcluster import binaries, engine
from devcluster.plane import ControlPlane, free_port
from devcluster.processes import OperatorProcess, ShimProcess

NAMESPACE = "bench-sidecar"
PLAIN = "bench-plain"
#: Enough heap for the engine to hold and serve a 50 MiB variable.
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx1536m")


def user_task_process(key: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" targetNamespace="http://bench">
  <process id="{key}" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="toWait" sourceRef="start" targetRef="wait"/>
    <userTask id="wait"/>
    <sequenceFlow id="toEnd" sourceRef="wait" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>
""".encode()


def kubectl(plane: ControlPlane, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(binaries.kubectl()), "--kubeconfig", str(plane.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def add_engine(plane: ControlPlane, process: engine.Camunda7Process) -> None:
    assert process.credentials is not None
    for namespace in (NAMESPACE, PLAIN):
        kubectl(plane, "create", "namespace", namespace)
    secret = {
        "username": base64.b64encode(process.credentials.username.encode()).decode(),
        "password": base64.b64encode(process.credentials.password.encode()).decode(),
    }
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "camunda-auth"},
                "data": secret,
            },
            {
                "apiVersion": "bpm.deployunits.io/v1alpha1",
                "kind": "ProcessEngine",
                "metadata": {"name": "camunda"},
                "spec": {
                    "camunda7": {"url": process.url, "authSecretRef": {"name": "camunda-auth"}}
                },
            },
        ],
    }
    kubectl(plane, "apply", "-n", NAMESPACE, "-f", "-", stdin=json.dumps(manifest))
    kubectl(
        plane,
        "wait",
        "-n",
        NAMESPACE,
        "--for=condition=Ready",
        "pe/camunda",
        "--timeout=120s",
    )


def start_least_forwarder(
    process: engine.Camunda7Process,
) -> tuple[subprocess.Popen[bytes], str]:
    """bench/baselines/least_forwarder.py in front of the engine; its /engine-rest URL."""
    assert process.credentials is not None
    port = free_port()
    secret = f"{process.credentials.username}:{process.credentials.password}"
    env = {
        **os.environ,
        "ENGINE_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode(),
    }
    script = Path(__file__).resolve().parent / "baselines" / "least_forwarder.py"
    least = subprocess.Popen([sys.executable, str(script), str(port), process.url], env=env)
    url = f"http://127.0.0.1:{port}/engine-rest"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/version", timeout=2)
            return least, url
        except httpx.TransportError:
            if time.monotonic() > deadline or least.poll() is not None:
                least.kill()
                raise
            time.sleep(0.2)


async def sample(
    count: int, call: Callable[[], Awaitable[httpx.Response]], expect: int
) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        answer = await call()
        latencies.append(time.perf_counter() - started)
        assert answer.status_code == expect, answer.text
    return latencies


def compare(what: str, direct: list[float], through: list[float]) -> None:
    d50, t50 = percentile(direct, 0.5) * 1000, percentile(through, 0.5) * 1000
    print(f"{what}")
    print(f"  direct to the engine    {describe(direct)}")
    print(f"  through the bound shim  {describe(through)}")
    print(
        f"  added at p50 {t50 - d50:+.2f} ms (target <= 2 ms), ratio {t50 / d50:.2f}x "
        f"(target <= 1.2x); added at p99 "
        f"{(percentile(through, 0.99) - percentile(direct, 0.99)) * 1000:+.2f} ms"
    )


def form(key: str) -> dict[str, tuple[str, bytes]]:
    return {"data": (f"{key}.bpmn", user_task_process(key))}


async def forwarded(
    engine_http: httpx.AsyncClient,
    bound: httpx.AsyncClient,
    least: httpx.AsyncClient,
    shim_pid: int,
    samples: int,
) -> None:
    created = await engine_http.post("/deployment/create", files=form("bench_start"))
    assert created.status_code == 200, created.text
    path = "/process-definition/key/bench_start/start"
    # Warm both paths (connections, the shim's forwarder) before measuring.
    await sample(20, lambda: bound.get("/process-definition/count"), 200)
    await sample(20, lambda: engine_http.get("/process-definition/count"), 200)
    await sample(20, lambda: least.get("/process-definition/count"), 200)
    shim_cpu = 0.0
    count_direct: list[float] = []
    count_through: list[float] = []
    count_least: list[float] = []
    start_direct: list[float] = []
    start_through: list[float] = []
    # Interleaved in rounds, so that both see the same load on a shared machine.
    for _ in range(max(1, samples // 50)):
        count_direct += await sample(50, lambda: engine_http.get("/process-definition/count"), 200)
        before = cpu_seconds(shim_pid)
        count_through += await sample(50, lambda: bound.get("/process-definition/count"), 200)
        shim_cpu += cpu_seconds(shim_pid) - before
        count_least += await sample(50, lambda: least.get("/process-definition/count"), 200)
        start_direct += await sample(50, lambda: engine_http.post(path, json={}), 200)
        start_through += await sample(50, lambda: bound.post(path, json={}), 200)
    compare("GET /process-definition/count", count_direct, count_through)
    # What the shim itself spends, whatever the machine's load does to the latencies.
    print(f"  shim CPU per forwarded count {shim_cpu / len(count_through) * 1000:.2f} ms")
    d50, l50 = percentile(count_direct, 0.5) * 1000, percentile(count_least, 0.5) * 1000
    print(
        f"  least forwarder         {describe(count_least)}: added at p50 {l50 - d50:+.2f} ms, "
        f"ratio {l50 / d50:.2f}x (the floor of a Python second hop, bench/baselines)"
    )
    compare("POST /process-definition/key/{key}/start", start_direct, start_through)


async def creates(
    engine_http: httpx.AsyncClient,
    bound: httpx.AsyncClient,
    plain: httpx.AsyncClient,
    count: int,
) -> None:
    run = uuid.uuid4().hex[:6]
    direct: list[float] = []
    unbound: list[float] = []
    through: list[float] = []
    for index in range(count):
        for client, into in ((engine_http, direct), (plain, unbound), (bound, through)):
            key = f"c_{run}_{index}_{len(into)}_{id(client) % 1000}"
            started = time.perf_counter()
            answer = await client.post(
                "/deployment/create", files=form(key), data={"deployment-name": key}
            )
            into.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
    floor = (percentile(direct, 0.5) + percentile(unbound, 0.5)) * 1000
    bound50 = percentile(through, 0.5) * 1000
    print("POST /deployment/create (one BPMN)")
    print(f"  engine direct           {describe(direct)}")
    print(f"  unbound shim            {describe(unbound)}")
    print(f"  bound shim              {describe(through)}")
    print(
        f"  bound p50 {bound50:.1f} ms vs the two hops' sum {floor:.1f} ms: "
        f"{bound50 - floor:+.1f} ms (target <= +5 ms)"
    )


async def download(
    engine_http: httpx.AsyncClient, bound: httpx.AsyncClient, shim: ShimProcess, mib: int
) -> None:
    started = await engine_http.post("/process-definition/key/bench_start/start", json={})
    instance = started.json()["id"]
    blob = bytes(range(256)) * (mib * 4096)
    path = f"/process-instance/{instance}/variables/blob/data"
    stored = await engine_http.post(
        path, files={"data": ("blob.bin", blob, "application/octet-stream")}, timeout=300
    )
    assert stored.status_code == 204, stored.text
    del blob
    assert shim.popen is not None
    pid = shim.popen.pid
    await asyncio.sleep(1)
    idle = rss_mib(pid)
    peak = idle
    received = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(pid))
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    began = time.perf_counter()
    async with bound.stream("GET", path, timeout=300) as answer:
        assert answer.status_code == 200
        async for chunk in answer.aiter_raw():
            received += len(chunk)
            # A slow reader: the shim must not buffer what the engine sends meanwhile.
            await asyncio.sleep(0)
    seconds = time.perf_counter() - began
    done.set()
    await watcher
    print(f"download of a {mib} MiB Bytes variable through the pass-through")
    print(
        f"  {received / 2**20:.1f} MiB in {seconds:.1f} s; shim RSS idle {idle:.1f} MiB, "
        f"peak {peak:.1f} MiB: {peak - idle:+.1f} MiB (target < 30 MiB)"
    )


async def measure(
    process: engine.Camunda7Process,
    bound_shim: ShimProcess,
    plain_shim: ShimProcess,
    least_url: str,
    args: Any,
) -> None:
    assert process.credentials is not None
    auth = (process.credentials.username, process.credentials.password)
    limits = httpx.Limits(max_keepalive_connections=8)
    async with (
        httpx.AsyncClient(base_url=process.url, auth=auth, timeout=60, limits=limits) as direct,
        httpx.AsyncClient(base_url=bound_shim.engine(), timeout=60, limits=limits) as bound,
        httpx.AsyncClient(base_url=plain_shim.engine(), timeout=60, limits=limits) as plain,
        httpx.AsyncClient(base_url=least_url, timeout=60, limits=limits) as least,
    ):
        assert bound_shim.popen is not None
        await forwarded(direct, bound, least, bound_shim.popen.pid, args.samples)
        await creates(direct, bound, plain, args.creates)
        await download(direct, bound, bound_shim, args.download_mib)


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    plane = ControlPlane(binaries.ensure_built(), workdir=workdir / "plane")
    credentials = engine.BasicCredentials("bench", uuid.uuid4().hex)
    process = engine.Camunda7Process(
        engine.ensure_built(), workdir / "engine.log", credentials, jvm_options=JVM_OPTIONS
    )
    plane.start()
    operator = bound_shim = plain_shim = None
    least: subprocess.Popen[bytes] | None = None
    try:
        process.spawn()
        install_crds(plane)
        operator = OperatorProcess(plane.kubeconfig, workdir / "operator.log")
        operator.start()
        process.wait_ready()
        print(f"engine ready in {process.started_in:.1f}s")
        add_engine(plane, process)
        bound_shim = ShimProcess(
            plane.kubeconfig,
            workdir / "bound-shim.log",
            namespace=NAMESPACE,
            env={"DEPLOYUNITS_ENGINE": "camunda"},
        )
        bound_shim.start()
        plain_shim = ShimProcess(plane.kubeconfig, workdir / "plain-shim.log", namespace=PLAIN)
        plain_shim.start()
        least, least_url = start_least_forwarder(process)
        await measure(process, bound_shim, plain_shim, least_url, args)
    finally:
        if least is not None:
            least.terminate()
            least.wait(10)
        for shim in (bound_shim, plain_shim):
            if shim is not None:
                shim.stop()
        if operator is not None:
            operator.stop()
        process.stop()
        plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--creates", type=int, default=30)
    parser.add_argument("--download-mib", type=int, default=50)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
