"""The least a kopf operator can do per unit: the writes the issues require, and nothing else.

    Started in the operator's place by `--least-operator` of bench/operator_units.py and
    bench/jbpm_rest.py; the operator's arguments (--standalone) are ignored: it always is.

One kopf event handler, on kopf with the operator's own settings where they change its cost
(no diff base, no handler Events, no worker limit, uvloop). For a unit not yet DEPLOYED it:
- reads its content: the inline resources, or the kjar its Maven coordinates name (the file and
  its .sha1, compared; its processes, decisions, cases and kmodule.xml); parses each as XML;
- stores all of it in one immutable ConfigMap owned by the unit (gzip, as the operator does);
- writes a status shaped as a deployed unit's (`deployed_status`) and posts one Event.
No versions, definitions, policy, limits, retries or finalizer. Environment as the operator's:
DEPLOYUNITS_KUBECONFIG, DEPLOYUNITS_NAMESPACES (JSON list), DEPLOYUNITS_PROBE_PORT (liveness).
Its figures bound what any kopf operator can reach in the benchmarks; it is not a product.
"""

import asyncio
import base64
import hashlib
import io
import json
import os
import xml.etree.ElementTree as ElementTree
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import uvloop

from deployunits import constants
from deployunits.content.maven import MavenCoordinates
from deployunits.handlers import lifecycle
from deployunits.k8s import snapshots
from deployunits.k8s.connection import Connection
from deployunits.k8s.raw import KubeClient, core_path, custom_path

#: What the operator takes from a kjar (all XML here): processes, decisions, cases, kmodule.xml.
RESOURCES = (".bpmn", ".bpmn2", ".dmn", ".cmmn", "/kmodule.xml")
#: A registry of its own: importing the operator's modules registers the operator's handlers.
registry = kopf.OperatorRegistry()
clients: dict[str, Any] = {}


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deployed_status(
    name: str, generation: int, config_map: str, content: dict[str, bytes]
) -> dict[str, Any]:
    """A status with the fields and size of a deployed unit's: five conditions, the job,
    a definition and a stored-resource entry per resource."""
    now = timestamp()
    message = f"Deployed {len(content)} resource(s), {len(content)} definition(s)."

    def condition(kind: str, status: str, reason: str, text: str = "") -> dict[str, Any]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": text,
            "observedGeneration": generation,
            "lastTransitionTime": now,
        }

    resources, definitions = [], []
    for index, (resource, data) in enumerate(sorted(content.items())):
        digest = hashlib.sha256(data).hexdigest()
        resources.append(
            {
                "id": f"{name}-{index}",
                "name": resource,
                "sha256": digest,
                "size": len(data),
                "configMap": config_map,
                "key": f"{index}.gz",
            }
        )
        key = Path(resource).stem
        definitions.append(
            {
                "id": f"{key}:1:{digest[:36]}",
                "key": key,
                "kind": "process",
                "name": key,
                "version": 1,
                "resource": resource,
                "startable": True,
            }
        )
    return {
        "observedGeneration": generation,
        "status": "DEPLOYED",
        "sourceDigest": hashlib.sha256(name.encode()).hexdigest(),
        "deploymentTime": now,
        "job": {
            "identifier": "1",
            "operation": "DEPLOY",
            "success": True,
            "explanation": "deploy job finished",
            "submitted": now,
            "started": now,
            "finished": now,
        },
        "resources": resources,
        "definitions": definitions,
        "conditions": [
            condition("Ready", "True", "Deployed", message),
            condition("Deployed", "True", "Deployed", message),
            condition("Reconciling", "False", "JobFinished"),
            condition("Stalled", "False", "NoFailure"),
            condition("SourceDrifted", "False", "SourceUnchanged"),
        ],
    }


def snapshot(unit: kopf.Body, content: dict[str, bytes]) -> dict[str, Any]:
    """One immutable ConfigMap holding every resource of the unit, owned by it."""
    digest = hashlib.sha256()
    for resource, data in sorted(content.items()):
        digest.update(resource.encode() + b"\0" + hashlib.sha256(data).digest())
    return {
        "metadata": {
            "name": f"bpm-bundle-{digest.hexdigest()}",
            "labels": {constants.MANAGED_BY_LABEL: constants.MANAGED_BY},
            "ownerReferences": [snapshots.owner_reference(unit)],
        },
        "immutable": True,
        "binaryData": {
            f"{index}.gz": base64.b64encode(snapshots.pack(data)).decode()
            for index, (_, data) in enumerate(sorted(content.items()))
        },
    }


def event(name: str, namespace: str, uid: str, message: str) -> dict[str, Any]:
    now = timestamp()
    return {
        "metadata": {"generateName": f"{name}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": constants.API_VERSION,
            "kind": constants.DEPLOYMENT_UNIT_KIND,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "reason": "Deployed",
        "message": message,
        "type": "Normal",
        "source": {"component": "least-operator"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


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
    settings.persistence.diffbase_storage = lifecycle.NoDiffBase()
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
kopf.on.login(registry=registry)(lifecycle.login)


@kopf.on.event("bpm.deployunits.io", "v1alpha1", "deploymentunits", registry=registry)
async def on_unit(type: str, body: kopf.Body, **_: Any) -> None:
    status = body.get("status") or {}
    if type == "DELETED" or status.get("status") == "DEPLOYED":
        return
    kube: KubeClient = clients["kube"]
    meta, spec = body["metadata"], body["spec"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    sources = spec["resources"]
    if "maven" in sources:
        content = await kjar_content(clients["http"], sources["maven"])
    else:
        content = {item["name"]: item["content"].encode() for item in sources["inline"]}
    for data in content.values():
        ElementTree.fromstring(data)
    stored = snapshot(body, content)
    await kube.create(core_path("configmaps", namespace), stored, metadata_only=True)
    new = deployed_status(name, meta["generation"], stored["metadata"]["name"], content)
    await kube.patch(
        custom_path("deploymentunits", namespace, name, "status"),
        {"status": new},
        metadata_only=True,
    )
    message = new["conditions"][0]["message"]
    await kube.create_event(namespace, event(name, namespace, uid, message))


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
