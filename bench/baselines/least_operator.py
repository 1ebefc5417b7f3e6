"""The least a kopf operator can do per unit: the writes the issues require, and nothing else.

    Started in the operator's place by `--least-operator` of bench/operator_units.py and
    bench/jbpm_rest.py; the operator's arguments (--standalone) are ignored: it always is.

One kopf event handler, on kopf with the operator's own settings where they change its cost
(no diff base, no handler Events, no worker limit, uvloop). For a unit not yet DEPLOYED it:
- reads its content: the inline resources, or the kjar its Maven coordinates name (the file and
  its .sha1, compared; its processes, decisions, cases and kmodule.xml); parses each as XML;
- stores all of it in one immutable ConfigMap owned by the unit (gzip, as the operator does);
- writes a status shaped as a deployed unit's and posts one Event (the bodies of
  bench/baselines/writes.py, which the required-writes floor writes too).
No versions, definitions, policy, limits, retries or finalizer. Environment as the operator's:
DEPLOYUNITS_KUBECONFIG, DEPLOYUNITS_NAMESPACES (JSON list), DEPLOYUNITS_PROBE_PORT (liveness).
Its figures bound what any kopf operator can reach in the benchmarks; it is not a product.
"""

import asyncio
import hashlib
import io
import json
import os
import sys
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.baselines import writes
from deployunits.content.maven import MavenCoordinates
from deployunits.handlers import common
from deployunits.k8s.connection import Connection
from deployunits.k8s.raw import KubeClient

#: What the operator takes from a kjar (all XML here): processes, decisions, cases, kmodule.xml.
RESOURCES = (".bpmn", ".bpmn2", ".dmn", ".cmmn", "/kmodule.xml")
#: A registry of its own: importing the operator's modules registers the operator's handlers.
registry = kopf.OperatorRegistry()
clients: dict[str, Any] = {}


async def kjar_content(http: aiohttp.ClientSession, maven: dict[str, str]) -> dict[str, bytes]:
    coords = MavenCoordinates(maven["groupId"], maven["artifactId"], maven["version"])
    url = f"{maven['repository']}/{coords.version_path()}/{coords.file_name()}"
    async with http.get(url) as response:
        response.raise_for_status()
        jar = await response.read()
    async with http.get(f"{url}.sha1") as response:
        response.raise_for_status()
        expected = (await response.text()).split()[0]
    if hashlib.sha1(jar).hexdigest() != expected:
        raise kopf.PermanentError(f"{url} does not match its .sha1")
    with zipfile.ZipFile(io.BytesIO(jar)) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n.endswith(RESOURCES)}


@kopf.on.startup(registry=registry)
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.diffbase_storage = common.NoDiffBase()
    settings.posting.enabled = False
    settings.queueing.worker_limit = None
    connection = Connection.load(os.environ["DEPLOYUNITS_KUBECONFIG"])
    clients["kube"] = KubeClient(connection, max_connections=40)
    clients["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=40))


@kopf.on.cleanup(registry=registry)
async def close(**_: Any) -> None:
    await clients["kube"].aclose()
    await clients["http"].close()


# Logs in as the operator does (DEPLOYUNITS_KUBECONFIG or in-cluster).
kopf.on.login(registry=registry)(common.login)


@kopf.on.event("bpm.deployunits.io", "v1alpha1", "deploymentunits", registry=registry)
async def on_unit(type: str, body: kopf.Body, **_: Any) -> None:
    status = body.get("status") or {}
    if type == "DELETED" or status.get("status") == "DEPLOYED":
        return
    kube: KubeClient = clients["kube"]
    sources = body["spec"]["resources"]
    if "maven" in sources:
        content = await kjar_content(clients["http"], sources["maven"])
    else:
        content = {item["name"]: item["content"].encode() for item in sources["inline"]}
    for data in content.values():
        ElementTree.fromstring(data)
    await writes.deployed(kube, body, content)


def main() -> int:
    liveness = f"http://127.0.0.1:{os.environ['DEPLOYUNITS_PROBE_PORT']}/healthz"
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        kopf.run(
            loop=runner.get_loop(),
            registry=registry,
            standalone=True,
            namespaces=json.loads(os.environ["DEPLOYUNITS_NAMESPACES"]),
            liveness_endpoint=liveness,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
