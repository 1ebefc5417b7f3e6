"""Which ProcessEngine each bound namespace's Camunda dialect fronts, and a forwarder to it.

A bound engine's ProcessEngine and Secret are read from the API server and used for a few
seconds before they are read again, so a changed URL or a rotated password takes effect soon
without a read per forwarded call. A forwarder whose settings changed is closed once the calls
still using it have had their time.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from deployunits.engines import (
    Camunda7Client,
    Camunda7Forwarder,
    EngineSettingsError,
    connection_for,
    credentials_from_secret,
)
from deployunits.k8s.gateway import ApiServer
from deployunits.models.processengine import ProcessEngineSpec

logger = logging.getLogger(__name__)


class EngineNotBound(Exception):
    """A bound engine's ProcessEngine cannot be used now (gone, or its settings are wrong)."""


@dataclass
class BoundEngine:
    """A bound engine as the shim uses it: its ProcessEngine, a forwarder and a client."""

    name: str
    spec: ProcessEngineSpec
    forwarder: Camunda7Forwarder
    client: Camunda7Client
    fingerprint: str
    read_at: float

    async def close_later(self, seconds: float) -> None:
        """Close once calls in flight have had time to finish (after a settings change)."""
        await asyncio.sleep(seconds)
        await self.close()

    async def close(self) -> None:
        await self.forwarder.close()
        await self.client.close()


class EngineBindings:
    """The bound namespaces of the shim and their engines' forwarders."""

    def __init__(
        self,
        kube: ApiServer,
        bindings: Mapping[str, str],
        *,
        refresh_seconds: float,
        urls: Mapping[str, str] | None = None,
    ) -> None:
        self._kube = kube
        self._bindings = dict(bindings)
        #: Where the shim reaches some engines instead of their ProcessEngine's URL.
        self._urls = dict(urls or {})
        self._refresh = refresh_seconds
        self._bound: dict[str, BoundEngine] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def engine_of(self, namespace: str) -> str | None:
        """The ProcessEngine the namespace's Camunda dialect is bound to (None: unbound)."""
        return self._bindings.get(namespace)

    @property
    def any(self) -> bool:
        return bool(self._bindings)

    async def forwarder(self, namespace: str) -> Camunda7Forwarder:
        """The forwarder to the namespace's bound engine; EngineNotBound if it has none now."""
        return (await self.engine(namespace)).forwarder

    async def engine(self, namespace: str) -> BoundEngine:
        """The namespace's bound engine; EngineNotBound if it has none now."""
        name = self._bindings.get(namespace)
        if name is None:
            raise EngineNotBound(f"the engine '{namespace}' is not bound to a ProcessEngine")
        loop = asyncio.get_running_loop()
        known = self._bound.get(namespace)
        if known is not None and loop.time() - known.read_at < self._refresh:
            return known
        async with self._locks.setdefault(namespace, asyncio.Lock()):
            known = self._bound.get(namespace)
            if known is not None and loop.time() - known.read_at < self._refresh:
                return known
            objects = await self._kube.engine_objects(namespace, name)
            if objects is None:
                raise EngineNotBound(f"ProcessEngine '{name}' does not exist")
            if objects.problem is not None:
                raise EngineNotBound(f"ProcessEngine '{name}': {objects.problem}")
            if known is not None and known.fingerprint == objects.fingerprint:
                known.read_at = loop.time()
                return known
            try:
                credentials = (
                    credentials_from_secret(objects.secret_name, objects.secret)
                    if objects.secret_name is not None and objects.secret is not None
                    else None
                )
                camunda7 = objects.spec.camunda7
                if camunda7 is None:
                    # A KIE Server speaks no Camunda REST: nothing of the dialect goes there.
                    raise EngineSettingsError("it is a KIE Server, not a Camunda 7 engine")
                url = self._urls.get(namespace)
                if url is not None:
                    camunda7 = camunda7.model_copy(update={"url": url})
                connection = connection_for(camunda7, credentials, objects.ca_bundle)
            except EngineSettingsError as error:
                raise EngineNotBound(f"ProcessEngine '{name}': {error}") from None
            bound = BoundEngine(
                name,
                objects.spec,
                Camunda7Forwarder(connection),
                Camunda7Client(connection),
                objects.fingerprint,
                loop.time(),
            )
            self._bound[namespace] = bound
            if known is not None:
                self._retire(known)
            logger.info(
                "Forwarding engine '%s' to ProcessEngine %s/%s.", namespace, namespace, name
            )
            return bound

    def _retire(self, bound: BoundEngine) -> None:
        task = asyncio.create_task(bound.close_later(bound.forwarder.connection.request_timeout))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def aclose(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        for bound in self._bound.values():
            await bound.close()
        self._bound.clear()
