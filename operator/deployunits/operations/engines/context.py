"""The engines' context: clients of the ProcessEngines, the watch-fed indexes, the resync loop."""

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployunits.content.digest import sha256_hex
from deployunits.engines import (
    Camunda7Client,
    EngineSettingsError,
    KieServerClient,
    connection_for,
    credentials_from_secret,
    kie_connection_for,
)
from deployunits.k8s.errors import ApiError
from deployunits.k8s.gateway import ApiServer
from deployunits.metrics import OperatorMetrics
from deployunits.models.conditions import now
from deployunits.models.processengine import (
    KeySelector,
    ProcessEngineSpec,
)
from deployunits.reconcile import engine as decide

logger = logging.getLogger(__name__)

#: (namespace, name) of a ProcessEngine or a unit.
Ref = tuple[str, str]
#: One resync of a ProcessEngine: the seconds until the next (None: the ProcessEngine is gone).
EngineResync = Callable[[Ref], Awaitable[float | None]]


@dataclass
class Engine:
    """One engine's client, valid for the settings it was built from."""

    fingerprint: str
    spec: ProcessEngineSpec
    client: Camunda7Client | KieServerClient

    @property
    def camunda(self) -> Camunda7Client:
        """The client of a Camunda 7 engine (the KIE Server's calls are others)."""
        if not isinstance(self.client, Camunda7Client):
            raise EngineSettingsError("this ProcessEngine is a KIE Server, not a Camunda 7 engine")
        return self.client

    @property
    def kie(self) -> KieServerClient | None:
        """The client of a KIE Server; None for a Camunda 7 engine."""
        return self.client if isinstance(self.client, KieServerClient) else None


@dataclass
class EnginesContext:
    """The operator's engines: clients, the index of ProcessEngines, and the resync loop."""

    kube: ApiServer
    metrics: OperatorMetrics | None = None
    #: When this process started passing units: units created before may have been pushed by
    #: an earlier process that died before recording it (needs_lookup).
    active_since: datetime = field(default_factory=now)
    #: Pushes this process tried, by (namespace, unit, job): a timeout may hide a success.
    attempted: set[tuple[str, str, str]] = field(default_factory=set)
    #: Engine deployment ids this process recorded on a unit: never taken for another unit's
    #: unrecorded push (two units may have the same name and bytes, e.g. after a Redeploy).
    claimed: set[str] = field(default_factory=set)
    #: Units whose failed undeploy is tried again (the engine's resync, not every event).
    retry_undeploy: set[Ref] = field(default_factory=set)
    _engines: dict[Ref, Engine] = field(default_factory=dict)
    #: Replaced clients, closed once the calls that use them are done.
    _retiring: set[asyncio.Task[None]] = field(default_factory=set)
    _index: Mapping[tuple[str], Iterable[decide.EngineCandidate]] | None = None
    _units: Mapping[tuple[str], Iterable[decide.UnitEntry]] | None = None
    _due: dict[Ref, float] = field(default_factory=dict)
    #: Deployments each engine's previous resync found unmanaged (adoption waits for two).
    unmanaged_before: dict[Ref, frozenset[str]] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _loop: "asyncio.Task[None] | None" = None

    def bind_indexes(
        self,
        engines: Mapping[tuple[str], Iterable[decide.EngineCandidate]],
        units: Mapping[tuple[str], Iterable[decide.UnitEntry]] | None = None,
    ) -> None:
        """kopf's watch-fed indexes: ProcessEngines and units by namespace (live views)."""
        self._index = engines
        if units is not None:
            self._units = units

    def candidates(self, namespace: str) -> list[decide.EngineCandidate]:
        index = self._index
        return list((index.get((namespace,)) or ()) if index is not None else ())

    def units_of(self, namespace: str) -> list[decide.UnitEntry]:
        index = self._units
        return list((index.get((namespace,)) or ()) if index is not None else ())

    def owned_anywhere(self) -> set[str]:
        """Engine deployment ids any unit records or was adopted from, in any namespace
        (engines are shared, and their ids are unique): what is not among them, and carries no
        push marker, is unmanaged. A scan of the index, once per resync."""
        index = self._units
        if index is None:
            return set()
        return {
            owned
            for key in list(index)
            for unit in index.get(key) or ()
            for owned in (unit.deployment_id, unit.adopted_from)
            if owned
        }

    def count(self, call: str, times: int = 1) -> None:
        """Record engine calls (deployunits_engine_calls_total: the calls per unit)."""
        if self.metrics is not None:
            self.metrics.engine_calls.labels(call).inc(times)

    def resync_soon(self, ref: Ref) -> None:
        """Reconcile the ProcessEngine at the next turn of the resync loop."""
        self._due[ref] = 0.0
        self._wake.set()

    def forget_client(self, ref: Ref) -> None:
        """Build the engine's client again at its next use (its settings or Secret changed)."""
        engine = self._engines.pop(ref, None)
        if engine is not None:
            self._retire(engine)

    def _retire(self, engine: Engine) -> None:
        """Close a client once the calls still using it have had their time.

        Closing it at once would cut a push in flight: the engine may deploy what it received
        while the operator hears of a broken connection, and pushes again before the look-up
        can see the first deployment.
        """

        async def close_later() -> None:
            try:
                await asyncio.sleep(engine.client.connection.request_timeout)
            finally:
                await engine.client.close()

        task = asyncio.get_running_loop().create_task(close_later())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def forget(self, ref: Ref) -> None:
        """The ProcessEngine is gone: no more resyncs, and its client is closed."""
        self._due.pop(ref, None)
        self.unmanaged_before.pop(ref, None)
        self.forget_client(ref)

    async def client(self, namespace: str, name: str, *, fresh: bool = False) -> Engine:
        """The engine's client, built from its spec and Secret (read again when `fresh`)."""
        ref = (namespace, name)
        known = self._engines.get(ref)
        if known is not None and not fresh:
            return known
        found = await self.kube.engines.find(namespace, name)
        if found is None:
            raise EngineSettingsError(f"ProcessEngine '{name}' does not exist")
        spec = found.spec
        credentials, ca_bundle, versions = None, None, []
        auth = spec.endpoint.auth_secret_ref
        if auth is not None:
            secret = await self._secret(namespace, auth.name)
            if secret is None:
                raise EngineSettingsError(f"Secret {auth.name} does not exist")
            credentials = credentials_from_secret(auth.name, secret_data(secret))
            versions.append(str(secret["metadata"].get("resourceVersion")))
        ca = spec.endpoint.ca_bundle
        if ca is not None:
            ca_bundle = await self._ca_bundle(namespace, ca.secret_key_ref, ca.config_map_key_ref)
        fingerprint = sha256_hex(f"{spec.model_dump_json()}|{versions}|{ca_bundle}".encode())
        if known is not None and known.fingerprint == fingerprint:
            return known
        client: Camunda7Client | KieServerClient
        if spec.camunda7 is not None:
            client = Camunda7Client(connection_for(spec.camunda7, credentials, ca_bundle))
        else:
            assert spec.kie_server is not None  # the spec's rule: exactly one kind
            client = KieServerClient(kie_connection_for(spec.kie_server, credentials, ca_bundle))
        engine = Engine(fingerprint, spec, client)
        self._engines[ref] = engine
        if known is not None:
            self._retire(known)
        return engine

    async def _secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.secrets.find(namespace, name)
        except ApiError as error:
            if error.status != 403:
                raise
            # The operator's right to read engines' Secrets may be bound per namespace.
            raise EngineSettingsError(
                f"the operator may not read Secret {name} in namespace {namespace}: bind the "
                "ClusterRole deployunits-engine-credentials to its ServiceAccount there "
                "(a RoleBinding; see manifests/README.md)"
            ) from None

    async def _ca_bundle(
        self, namespace: str, secret_ref: KeySelector | None, config_map_ref: KeySelector | None
    ) -> str:
        if secret_ref is not None:
            secret = await self._secret(namespace, secret_ref.name)
            value = secret_data(secret or {}).get(secret_ref.key)
            where = f"Secret {secret_ref.name}"
            key = secret_ref.key
        else:
            assert config_map_ref is not None  # the CRD's rule: exactly one of the two
            try:
                found = await self.kube.config_maps.get(namespace, config_map_ref.name)
            except ApiError as error:
                if not error.not_found:
                    raise
                found = {}
            raw = (found.get("data") or {}).get(config_map_ref.key)
            value = raw.encode() if isinstance(raw, str) else None
            where, key = f"ConfigMap {config_map_ref.name}", config_map_ref.key
        if not value:
            raise EngineSettingsError(f"{where} has no key {key} with the CA bundle")
        return value.decode()

    def known(self) -> list[Ref]:
        """Every ProcessEngine the watch has delivered."""
        index = self._index
        if index is None:
            return []
        return [
            (key[0], candidate.name) for key in list(index) for candidate in index.get(key) or ()
        ]

    def start(self, resync: "EngineResync") -> None:
        """Start the resync loop (stopped by close())."""
        self._loop = asyncio.create_task(self._resyncs(resync))

    async def _resyncs(self, resync: "EngineResync") -> None:
        """Reconcile each known ProcessEngine when it is due (every resyncSeconds, or at once
        when it changed), one at a time; runs for the life of the operator."""
        loop = asyncio.get_running_loop()
        while True:
            known = self.known()
            for gone in set(self._due) - set(known):
                del self._due[gone]  # asked for, but no (longer a) ProcessEngine
            for ref in known:
                due = self._due.setdefault(ref, 0.0)
                if due > loop.time():
                    continue
                try:
                    wait = await resync(ref)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("Resync of ProcessEngine %s/%s failed.", *ref)
                    wait = 10.0
                if wait is not None:
                    self._due[ref] = loop.time() + wait
            self._wake.clear()
            next_due = min(self._due.values(), default=loop.time() + 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), max(0.2, min(5.0, next_due - loop.time()))
                )

    async def close(self) -> None:
        task = self._loop
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for retiring in list(self._retiring):
            retiring.cancel()  # closes its client now
            with contextlib.suppress(asyncio.CancelledError):
                await retiring
        for engine in self._engines.values():
            await engine.client.close()
        self._engines.clear()


def secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    data = secret.get("data") or {}
    return {str(k): base64.b64decode(str(v)) for k, v in data.items()}
