"""`make run`'s Camunda 7 engine: started beside operator and shim, shown, and never left behind.

Matrix: `deployunits-devcluster run` starts the engine with basic auth on, prints its URL once
it answers, makes it the default ProcessEngine of a namespace (the sample unit reaches it, and
the banner's curl starts the sample process there), and stops it on Ctrl-C (the gateway then
finds it unavailable); an engine whose parent is killed with SIGKILL dies too; without
credentials the REST API is open, and an engine started again comes back on the same URL with
its data lost.
"""

import asyncio
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest

from deployunits.engines import (
    Camunda7Client,
    Camunda7Connection,
    EngineUnavailable,
    NewDeployment,
    NewResource,
)
from devcluster import engine
from devcluster.plane import free_port
from devcluster.processes import wait_for
from tests.support.cluster import REPO, Cluster
from tests.support.launcher import start_run_command


def _status(url: str, user: str | None = None) -> int:
    request = urllib.request.Request(url)
    if user is not None:
        request.add_header("Authorization", "Basic " + b64encode(user.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


async def _version(connection: Camunda7Connection) -> str:
    async with Camunda7Client(connection) as client:
        return await client.version()


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_run_starts_the_engine_shows_it_and_stops_it(cluster: Cluster, tmp_path: Path) -> None:
    engine_port = free_port()
    launcher = start_run_command(
        cluster,
        tmp_path,
        "engine-run-test",
        "--shim-port",
        str(free_port()),
        "--engine-port",
        str(engine_port),
        "--engine-namespace",
        "engine-run-test",
    )
    url = f"http://127.0.0.1:{engine_port}/engine-rest"
    assert launcher.stdout is not None
    shown: list[str] = []
    try:
        # The banner comes once everything answers (pytest's timeout bounds the wait).
        while not shown or "Press Ctrl-C" not in shown[-1]:
            line = launcher.stdout.readline()
            assert line, "".join(shown)
            shown.append(line)
        assert _status(f"{url}/version") == 401
        assert _status(f"{url}/version", "demo:demo") == 200
        # The namespace's default engine is the started one: the sample unit reaches it, and
        # the banner's curl starts an instance of the sample process there.
        cluster.kubectl(
            "apply", "-n", "engine-run-test", "-f", str(REPO / "manifests/samples/inline-unit.yaml")
        )
        waited = cluster.kubectl(
            "wait",
            "--for=condition=EngineSynced",
            "--timeout=90s",
            "du/hello-inline",
            "-n",
            "engine-run-test",
            check=False,
        )
        assert waited.returncode == 0, waited.stderr + (tmp_path / "operator.log").read_text()
        [at] = [n for n, line in enumerate(shown) if "/process-definition/key/hello/start" in line]
        start = shown[at - 1] + shown[at]  # the banner's two lines, joined by the shell
        started = subprocess.run(start, shell=True, capture_output=True, text=True, check=True)
        assert '"definitionId":"hello:' in started.stdout, started.stdout
    finally:
        launcher.send_signal(signal.SIGINT)
        rest, _ = launcher.communicate(timeout=60)
    output = "".join(shown) + rest
    assert launcher.returncode == 0, output
    assert f"engine:      {url}" in output
    assert f"curl -u demo:demo {url}/deployment" in output
    assert _status(f"{url}/version") == 0
    # The gateway's view of an engine that was stopped: unavailable, worth a retry.
    with pytest.raises(EngineUnavailable) as raised:
        asyncio.run(_version(Camunda7Connection(url=url)))
    assert raised.value.temporary
    assert "Started EngineApplication" in (tmp_path / "engine.log").read_text()


def test_the_engine_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from devcluster import engine
        process = engine.Camunda7Process(engine.ensure_built(), Path({str(tmp_path)!r}) / "log")
        process.spawn()
        print(process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    assert _alive(pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    wait_for(lambda: not _alive(pid), 10, "the engine to exit")


async def _push_and_count(connection: Camunda7Connection, push: bool) -> int:
    async with Camunda7Client(connection) as client:
        if push:
            bpmn = (REPO / "tests" / "unit" / "samples" / "invoice.bpmn").read_bytes()
            resource = NewResource(name="invoice.bpmn", content=bpmn)
            await client.create_deployment(NewDeployment(name="kept", resources=(resource,)))
        return len(await client.deployments())


def test_an_open_engine_restarts_on_its_url_with_its_data_lost(tmp_path: Path) -> None:
    with engine.Camunda7Process(engine.ensure_built(), tmp_path / "log") as process:
        url = process.url
        assert _status(f"{url}/version") == 200
        connection = Camunda7Connection(url=url)
        assert asyncio.run(_push_and_count(connection, push=True)) == 1
        process.stop()
        process.start()
        assert process.url == url
        assert asyncio.run(_push_and_count(connection, push=False)) == 0
