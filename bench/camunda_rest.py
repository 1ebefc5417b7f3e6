"""Camunda REST shim benchmark on the embedded control plane, with many deployments stored.

    .venv/bin/python bench/camunda_rest.py [--units 10000] [--samples 200]

Stores --units deployments (DeploymentUnits reconciled by the real operator), starts the shim,
then prints: the shim's cache sync time; GET /deployment?maxResults=100 p50/p99 (target p50
<= 20 ms, p99 <= 100 ms); GET /deployment/{id} p50 (<= 5 ms); create of a one-resource
deployment p50 (<= 150 ms); redeploy p50 (<= 200 ms); the shim's resident memory (<= 250 MiB);
and read throughput at 1, 8 and 32 concurrent clients. Figures only; nothing is asserted.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    Stopwatch,
    bounded,
    client,
    describe,
    install_crds,
    percentile,
    rss_mib,
)
from deployunits.k8s.raw import KubeClient, core_path, custom_path
from devcluster import binaries
from devcluster.plane import ControlPlane
from devcluster.processes import OperatorProcess, ShimProcess

NAMESPACE = "bench"


def bpmn(key: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        f'targetNamespace="http://bench"><process id="{key}" name="{key}" isExecutable="true">'
        '<startEvent id="s"/></process></definitions>'
    ).encode()


def unit(index: int) -> dict[str, Any]:
    name = f"u{index:05d}"
    return {
        "apiVersion": "bpm.deployunits.io/v1alpha1",
        "kind": "DeploymentUnit",
        "metadata": {"name": name},
        "spec": {
            "deploymentId": f"bench-{index:05d}",
            "name": f"bench {index % 100}",
            "tenantId": f"t{index % 7}" if index % 3 else None,
            "resources": {"inline": [{"name": f"{name}.bpmn", "content": bpmn(name).decode()}]},
        },
    }


async def store_units(kube: KubeClient, count: int) -> float:
    await kube.create(core_path("namespaces"), {"metadata": {"name": NAMESPACE}})
    with Stopwatch() as watch:
        await bounded(
            32,
            (
                lambda i=i: kube.create(
                    custom_path("deploymentunits", NAMESPACE),
                    {**unit(i), "spec": {k: v for k, v in unit(i)["spec"].items() if v}},
                )
                for i in range(count)
            ),
        )
    return watch.seconds


async def wait_visible(http: httpx.AsyncClient, count: int, within: float) -> float:
    start = time.perf_counter()
    last = -1
    while time.perf_counter() - start < within:
        response = await http.get("/deployment/count")
        if response.status_code == 200:
            seen = response.json()["count"]
            if seen != last:
                print(f"  {seen}/{count} deployments visible", flush=True)
                last = seen
            if seen >= count:
                return time.perf_counter() - start
        await asyncio.sleep(2)
    raise TimeoutError(f"only {last} of {count} deployments became visible")


async def timed(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> float:
    start = time.perf_counter()
    response = await http.request(method, url, **kwargs)
    elapsed = time.perf_counter() - start
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return elapsed


async def throughput(base: str, clients: int, seconds: float, ids: list[str]) -> float:
    """Requests per second of a read mix (list pages and single gets) from N clients."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            index = offset
            while time.perf_counter() < deadline:
                if index % 2:
                    await http.get("/deployment", params={"maxResults": "100"})
                else:
                    await http.get(f"/deployment/{ids[index % len(ids)]}")
                index += 1
                done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    return done / (time.perf_counter() - start)


async def measure(shim: ShimProcess, kube: KubeClient, units: int, samples: int) -> None:
    base = shim.engine(NAMESPACE)
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        print(f"waiting for {units} deployments to be reconciled and visible ...", flush=True)
        visible = await wait_visible(http, units, within=3600)
        print(f"all {units} visible after {visible:.1f}s of waiting")
        listed = (await http.get("/deployment", params={"maxResults": "1000"})).json()
        ids = [d["id"] for d in listed]
        for _ in range(20):  # warm up
            await http.get("/deployment", params={"maxResults": "100"})
        page = [
            await timed(http, "GET", "/deployment", params={"maxResults": "100"})
            for _ in range(samples)
        ]
        sorted_page = [
            await timed(
                http,
                "GET",
                "/deployment",
                params={
                    "maxResults": "100",
                    "firstResult": "5000",
                    "sortBy": "deploymentTime",
                    "sortOrder": "desc",
                },
            )
            for _ in range(samples)
        ]
        filtered = [
            await timed(
                http,
                "GET",
                "/deployment",
                params={"maxResults": "100", "nameLike": "bench 4%", "tenantIdIn": "t1,t2"},
            )
            for _ in range(samples)
        ]
        single = [
            await timed(http, "GET", f"/deployment/{ids[i % len(ids)]}") for i in range(samples)
        ]
        count = [await timed(http, "GET", "/deployment/count") for _ in range(samples)]
        creates: list[float] = []
        created: list[str] = []
        for i in range(max(samples // 4, 20)):
            start = time.perf_counter()
            response = await http.post(
                "/deployment/create",
                data={"deployment-name": "bench-create"},
                files={"data": (f"c{i}.bpmn", bpmn(f"create{i}"))},
            )
            creates.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise RuntimeError(f"create: {response.status_code} {response.text[:300]}")
            created.append(response.json()["id"])
        redeploys = [
            await timed(http, "POST", f"/deployment/{created[i % len(created)]}/redeploy")
            for i in range(max(samples // 4, 20))
        ]
        deletes = [await timed(http, "DELETE", f"/deployment/{d}") for d in created[:20]]
    rss = shim.rss_bytes() / 1024 / 1024
    print()
    print(f"== Camunda REST shim with {units} deployments stored ==")
    print(f"GET /deployment?maxResults=100            {describe(page)}")
    print(f"  same, firstResult=5000 sorted by time   {describe(sorted_page)}")
    print(f"  same, nameLike + tenantIdIn filters     {describe(filtered)}")
    print(f"GET /deployment/{{id}}                      {describe(single)}")
    print(f"GET /deployment/count                     {describe(count)}")
    print(f"POST /deployment/create (one resource)    {describe(creates)}")
    print(f"POST /deployment/{{id}}/redeploy            {describe(redeploys)}")
    print(f"DELETE /deployment/{{id}}                   {describe(deletes)}")
    print(f"shim resident memory                      {rss:.1f} MiB")
    for clients in (1, 8, 32):
        rate = await throughput(base, clients, 10.0, ids)
        print(f"read throughput, {clients:2d} concurrent clients    {rate:.0f} req/s")
    print(f"shim resident memory after the load       {shim.rss_bytes() / 1024 / 1024:.1f} MiB")
    print(
        "targets: list p50<=20 ms p99<=100 ms ("
        f"{percentile(page, 0.5) * 1000:.1f}/{percentile(page, 0.99) * 1000:.1f}), "
        f"get p50<=5 ms ({percentile(single, 0.5) * 1000:.1f}), "
        f"create p50<=150 ms ({percentile(creates, 0.5) * 1000:.1f}), "
        f"redeploy p50<=200 ms ({percentile(redeploys, 0.5) * 1000:.1f}), "
        f"RSS<=250 MiB ({rss:.0f})"
    )


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-camunda-"))
    plane = ControlPlane(binaries.ensure_built(), workdir=workdir / "plane")
    plane.start()
    operator = None
    shim = None
    try:
        install_crds(plane)
        operator = OperatorProcess(plane.kubeconfig, workdir / "operator.log")
        operator.start()
        kube = client(plane.kubeconfig)
        try:
            seconds = await store_units(kube, args.units)
            print(f"created {args.units} DeploymentUnits in {seconds:.1f}s")
            shim = ShimProcess(plane.kubeconfig, workdir / "shim.log", namespace=NAMESPACE)
            with Stopwatch() as watch:
                shim.start(timeout=600)
            print(f"shim ready (cache synced) in {watch.seconds:.1f}s, pid {shim.popen.pid}")
            await measure(shim, kube, args.units, args.samples)
            print(
                f"operator resident memory                  {rss_mib(operator.popen.pid):.1f} MiB"
            )
        finally:
            await kube.aclose()
    finally:
        if shim is not None:
            shim.stop()
        if operator is not None:
            operator.stop()
        plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10000)
    parser.add_argument("--samples", type=int, default=200)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
