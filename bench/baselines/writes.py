"""The writes a deployed unit needs, as bodies: its snapshot, its status, its Event.

The least operator (least_operator.py) and the required-writes floor (required_writes.py) both
write exactly these, so that they differ only in what runs around the writes.
"""

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployunits import constants
from deployunits.k8s import snapshots
from deployunits.k8s.raw import KubeClient, core_path, custom_path


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


def snapshot(unit: Mapping[str, Any], content: dict[str, bytes]) -> dict[str, Any]:
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


async def deployed(kube: KubeClient, unit: Mapping[str, Any], content: dict[str, bytes]) -> None:
    """The writes that make a created unit deployed: its snapshot, its status, its Event."""
    meta = unit["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    stored = snapshot(unit, content)
    await kube.create(core_path("configmaps", namespace), stored, metadata_only=True)
    status = deployed_status(name, meta["generation"], stored["metadata"]["name"], content)
    await kube.patch(
        custom_path("deploymentunits", namespace, name, "status"),
        {"status": status},
        metadata_only=True,
    )
    message = status["conditions"][0]["message"]
    await kube.create(
        core_path("events", namespace),
        event(name, namespace, meta["uid"], message),
        metadata_only=True,
    )
