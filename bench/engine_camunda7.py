"""The project's Camunda 7 engine and the engines gateway: build, start, memory, create latency.

    .venv/bin/python bench/engine_camunda7.py [--creates 100] [--size 20480] [--jvm-options ...]

Prints: the jar (built now, with the time, or found in the cache) and its size; the engine's
start time until /version answers and its CPU seconds for it; its resident memory idle and after
the creates; the gateway's create of one ~--size BPMN at concurrency 1 and 8 (p50/p99, creates
per second, engine CPU milliseconds per create), and the look-up of a push by its source. These
are the engine's own costs, the floor of issue 19's push benchmark. Figures only.
"""

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BPMN_HEADER, Stopwatch, bounded, cpu_seconds, describe, rss_mib
from deployunits.engines import (
    BasicAuth,
    Camunda7Client,
    Camunda7Connection,
    NewDeployment,
    NewResource,
)
from devcluster import engine


def executable_bpmn(key: str, size: int) -> str:
    """A BPMN document of about `size` bytes that a real engine accepts: start, tasks, end.

    (bench.common.sized_bpmn has no start event, which the engine refuses.)
    """
    parts = [BPMN_HEADER, f'<bpmn:process id="{key}" isExecutable="true">']
    parts.append('<bpmn:startEvent id="start"/>')
    previous, index = "start", 0
    while sum(map(len, parts)) < size - 300:
        task = f"t{index}"
        parts.append(f'<bpmn:task id="{task}" name="Task number {index} of {key}"/>')
        parts.append(
            f'<bpmn:sequenceFlow id="f{index}" sourceRef="{previous}" targetRef="{task}"/>'
        )
        previous, index = task, index + 1
    parts.append('<bpmn:endEvent id="end"/>')
    parts.append(f'<bpmn:sequenceFlow id="fEnd" sourceRef="{previous}" targetRef="end"/>')
    parts.append("</bpmn:process></bpmn:definitions>")
    return "".join(parts)


async def creates(
    client: Camunda7Client, count: int, concurrency: int, size: int, pid: int
) -> None:
    latencies: list[float] = []
    run = uuid.uuid4().hex[:6]

    def job(index: int) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            key = f"bench_{run}_{concurrency}_{index}"
            deployment = NewDeployment(
                name=key,
                source=f"deployunits:{key}",
                resources=(
                    NewResource(name=f"{key}.bpmn", content=executable_bpmn(key, size).encode()),
                ),
            )
            started = time.perf_counter()
            await client.create_deployment(deployment)
            latencies.append(time.perf_counter() - started)

        return one

    cpu_before = cpu_seconds(pid)
    with Stopwatch() as watch:
        await bounded(concurrency, [job(i) for i in range(count)])
    cpu = cpu_seconds(pid) - cpu_before
    print(
        f"create, concurrency {concurrency}: {describe(latencies)}; "
        f"{count / watch.seconds:.1f}/s; engine CPU {cpu * 1000 / count:.0f} ms per create"
    )


async def measure(process: engine.Camunda7Process, count: int, size: int) -> None:
    assert process.credentials is not None and process.pid is not None
    connection = Camunda7Connection(
        url=process.url,
        credentials=BasicAuth(
            username=process.credentials.username, password=process.credentials.password
        ),
    )
    async with Camunda7Client(connection) as client:
        for concurrency in (1, 8):
            await creates(client, count, concurrency, size, process.pid)
        [last] = (await client.deployments())[-1:]
        lookups = []
        for _ in range(50):
            with Stopwatch() as watch:
                await client.deployments(source=last.source)
            lookups.append(watch.seconds)
        print(f"look-up by source: {describe(lookups)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--size", type=int, default=20 * 1024)
    parser.add_argument(
        "--jvm-options",
        default=" ".join(engine.DEFAULT_JVM_OPTIONS),
        help="the engine's JVM options (the launcher's defaults favour a fast start)",
    )
    args = parser.parse_args()

    cached = engine.jar_path().exists()
    with Stopwatch() as build:
        jar = engine.ensure_built()
    how = "found in the cache" if cached else f"built in {build.seconds:.0f} s"
    print(f"jar: {jar} ({how}), {jar.stat().st_size / 2**20:.1f} MiB")

    with tempfile.TemporaryDirectory() as workdir:
        credentials = engine.BasicCredentials("bench", uuid.uuid4().hex)
        process = engine.Camunda7Process(
            jar, Path(workdir) / "log", credentials, jvm_options=tuple(args.jvm_options.split())
        )
        with process:
            assert process.pid is not None and process.started_in is not None
            print(
                f"start: {process.started_in:.1f} s until /version answered, "
                f"{cpu_seconds(process.pid):.1f} CPU s; JVM options "
                f"{' '.join(process.jvm_options)}"
            )
            print(f"RSS idle: {rss_mib(process.pid):.0f} MiB")
            asyncio.run(measure(process, args.creates, args.size))
            print(f"RSS after {2 * args.creates} creates: {rss_mib(process.pid):.0f} MiB")


if __name__ == "__main__":
    main()
