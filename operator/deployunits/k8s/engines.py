"""The ProcessEngine store, and the Secrets and ConfigMaps an engine's settings refer to."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deployunits import constants
from deployunits.content.digest import sha256_hex
from deployunits.k8s._objects import CustomObjects, or_none
from deployunits.k8s._transport import KubeClient, core_path
from deployunits.k8s.core import ConfigMaps
from deployunits.k8s.errors import JSON, ApiError
from deployunits.k8s.meta import ObjectMeta
from deployunits.models.processengine import ProcessEngine, ProcessEngineSpec, ProcessEngineStatus


class EngineStore(CustomObjects[ProcessEngine]):
    """Reads ProcessEngines and writes their status."""

    plural = constants.PROCESS_ENGINE_PLURAL
    model = ProcessEngine

    async def write_status(
        self, namespace: str, name: str, status: ProcessEngineStatus
    ) -> ObjectMeta:
        """Replace the engine's status; returns the written object's metadata."""
        return await self._write_status(namespace, name, status.to_wire())


class Secrets:
    """Reads the Secrets that hold engines' credentials and CA bundles (never lists them)."""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport

    async def find(self, namespace: str, name: str) -> JSON | None:
        """The Secret as stored, or None if there is none."""
        return await or_none(self._kube.get(core_path("secrets", namespace, name)))


@dataclass(frozen=True)
class EngineObjects:
    """A ProcessEngine's spec with what its references hold, read together.

    `problem` says which reference does not resolve (a missing Secret, a CA bundle without its
    key); the values are then None. `fingerprint` changes whenever any of them changes.
    """

    spec: ProcessEngineSpec
    secret_name: str | None = None
    secret: dict[str, bytes] | None = field(default=None, repr=False)
    ca_bundle: str | None = field(default=None, repr=False)
    problem: str | None = None
    fingerprint: str = ""


def secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's values, decoded."""
    data = secret.get("data") or {}
    return {str(k): base64.b64decode(str(v)) for k, v in data.items()}


async def read_engine(
    engines: EngineStore, secrets: Secrets, config_maps: ConfigMaps, namespace: str, name: str
) -> EngineObjects | None:
    """The ProcessEngine `name` with its credentials Secret and CA bundle; None if it is gone."""
    engine = await engines.find(namespace, name)
    if engine is None:
        return None
    spec = engine.spec
    versions = [str(engine.metadata.get("resourceVersion"))]
    auth = spec.endpoint.auth_secret_ref
    data: dict[str, bytes] | None = None
    if auth is not None:
        found = await secrets.find(namespace, auth.name)
        if found is None:
            return EngineObjects(spec, auth.name, problem=f"Secret {auth.name} does not exist")
        data = secret_data(found)
        versions.append(str(found["metadata"].get("resourceVersion")))
    ca_bundle = None
    ca = spec.endpoint.ca_bundle
    if ca is not None:
        value: bytes | None
        if ca.secret_key_ref is not None:
            selector, where = ca.secret_key_ref, f"Secret {ca.secret_key_ref.name}"
            value = secret_data(await secrets.find(namespace, selector.name) or {}).get(
                selector.key
            )
        else:
            assert ca.config_map_key_ref is not None  # the CRD's rule: exactly one of the two
            selector, where = ca.config_map_key_ref, f"ConfigMap {ca.config_map_key_ref.name}"
            try:
                raw = ((await config_maps.get(namespace, selector.name)).get("data") or {}).get(
                    selector.key
                )
            except ApiError as error:
                if not error.not_found:
                    raise
                raw = None
            value = raw.encode() if isinstance(raw, str) else None
        if not value:
            return EngineObjects(
                spec, problem=f"{where} has no key {selector.key} with the CA bundle"
            )
        ca_bundle = value.decode()
    fingerprint = sha256_hex(f"{spec.model_dump_json()}|{versions}|{ca_bundle}".encode())
    secret_name = auth.name if auth is not None else None
    return EngineObjects(spec, secret_name, data, ca_bundle, None, fingerprint)
