"""Kubernetes Events about the project's objects, for people (kubectl describe, the console)."""

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from deployunits import constants
from deployunits.k8s._transport import KubeClient, core_path
from deployunits.k8s.errors import JSON, ApiError

logger = logging.getLogger(__name__)


class EventRecorder:
    """Posts core/v1 Events on objects (a failure to post is logged, never fatal) and reads them."""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport

    async def post(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """An Event of `type_` (Normal, Warning) on the object `body`."""
        meta = body["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": body.get("apiVersion", constants.API_VERSION),
                "kind": body.get("kind", constants.DEPLOYMENT_UNIT_KIND),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": "deployunits-operator"},
            "reportingComponent": "deployunits-operator",
            "reportingInstance": "deployunits-operator",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._kube.create(
                core_path("events", meta["namespace"]), event, metadata_only=True
            )
        except ApiError as error:
            logger.warning("Could not post event %s on %s: %s", reason, meta["name"], error)

    async def about(self, namespace: str, kind: str, name: str, uid: str) -> list[JSON]:
        """The Events of one object (this incarnation of it: by uid), as the API server keeps
        them (it drops them after its event TTL, an hour by default)."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name},involvedObject.uid={uid}"
        found = await self._kube.get(
            core_path("events", namespace), params={"fieldSelector": selector}
        )
        items: list[JSON] = found.get("items") or []
        return items
