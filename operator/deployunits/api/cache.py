"""Watch-fed caches of the shim: DeploymentUnits indexed by deployment id, and its Redeploys."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypedDict, TypeVar

from pydantic import ValidationError

from deployunits import constants
from deployunits.k8s.errors import JSON
from deployunits.k8s.gateway import ApiServer
from deployunits.k8s.watch import Reflector, resource_version_of
from deployunits.models.conditions import ConditionType
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    DesiredState,
)
from deployunits.models.redeploy import RedeploySpec, RedeployStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CachedUnit:
    """What the shim keeps of one DeploymentUnit (no managed fields, no kopf annotations)."""

    namespace: str
    name: str
    uid: str
    resource_version: int
    generation: int
    deleting: bool
    annotations: dict[str, str]
    spec: DeploymentUnitSpec
    status: DeploymentUnitStatus
    #: metadata.creationTimestamp as the API server wrote it (the console shows the age).
    created: str = ""

    @property
    def deployment_id(self) -> str:
        return self.spec.deployment_id

    @property
    def reconciled(self) -> bool:
        """The operator has handled the current generation and reached a final deploy outcome."""
        return (self.status.observed_generation or 0) >= self.generation and self.status.status in (
            DeploymentStatus.DEPLOYED,
            DeploymentStatus.DEPLOY_FAILED,
        )

    @property
    def visible(self) -> bool:
        """Whether engine reads show it: deployed, not a filtered duplicate, not being deleted."""
        return (
            not self.deleting
            and self.spec.state is DesiredState.DEPLOYED
            and self.status.status is DeploymentStatus.DEPLOYED
            and self.status.duplicate_of is None
        )


@dataclass(frozen=True, slots=True)
class CachedRedeploy:
    """A Redeploy the shim created, as last seen."""

    namespace: str
    name: str
    uid: str
    resource_version: int
    generation: int
    spec: RedeploySpec
    status: RedeployStatus


def _meta(obj: JSON) -> dict[str, Any]:
    meta: dict[str, Any] = obj.get("metadata") or {}
    return meta


class _Identity(TypedDict):
    namespace: str
    name: str
    uid: str
    resource_version: int
    generation: int


def _identity(obj: JSON) -> _Identity:
    """Which object, at which version: the metadata both caches keep."""
    meta = _meta(obj)
    return _Identity(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=resource_version_of(obj),
        generation=int(meta.get("generation") or 0),
    )


def _ignore(kind: str, obj: JSON, error: ValidationError) -> None:
    """Log, not raise: one object that does not fit its model must not stop the watch."""
    meta = _meta(obj)
    logger.warning("ignoring %s %s/%s: %s", kind, meta.get("namespace"), meta.get("name"), error)


def _lean_spec(spec: JSON) -> JSON:
    """The spec without source content: reads never need it (content comes from snapshots)."""
    sources = spec.get("resources") or {}
    snapshots = sources.get("snapshots")
    return {**spec, "resources": {"snapshots": snapshots} if snapshots else {}}


#: The conditions the cache keeps in every state: the console shows them with their messages.
_SHOWN_CONDITIONS = (ConditionType.READY, ConditionType.ENGINE_SYNCED)


def _lean_status(status: JSON) -> JSON:
    """The status without what reads never show: only Ready, EngineSynced and a true Stalled
    condition, and a failed job."""
    lean = {
        key: value
        for key, value in status.items()
        if key not in ("conditions", "job", "sourceDigest")
    }
    lean["conditions"] = [
        c
        for c in status.get("conditions") or ()
        if c.get("type") in _SHOWN_CONDITIONS
        or (c.get("type") == ConditionType.STALLED and c.get("status") == "True")
    ]
    if status.get("status") == DeploymentStatus.DEPLOY_FAILED and status.get("job"):
        lean["job"] = status["job"]
    return lean


def parse_unit(obj: JSON) -> CachedUnit | None:
    """The cached form of a DeploymentUnit, or None if it does not fit the model."""
    meta = _meta(obj)
    try:
        spec = DeploymentUnitSpec.model_validate(_lean_spec(obj.get("spec") or {}))
        status = DeploymentUnitStatus.model_validate(_lean_status(obj.get("status") or {}))
    except ValidationError as error:
        _ignore("DeploymentUnit", obj, error)
        return None
    annotations = {
        key: str(value)
        for key, value in (meta.get("annotations") or {}).items()
        if key == constants.ACTIVATION_TIME_ANNOTATION
    }
    return CachedUnit(
        **_identity(obj),
        deleting=bool(meta.get("deletionTimestamp")),
        annotations=annotations,
        spec=spec,
        status=status,
        created=str(meta.get("creationTimestamp") or ""),
    )


def parse_redeploy(obj: JSON) -> CachedRedeploy | None:
    """The cached form of a Redeploy, or None if it does not fit the model."""
    try:
        spec = RedeploySpec.model_validate(obj.get("spec") or {})
        status = RedeployStatus.model_validate(obj.get("status") or {})
    except ValidationError as error:
        _ignore("Redeploy", obj, error)
        return None
    return CachedRedeploy(**_identity(obj), spec=spec, status=status)


T = TypeVar("T", CachedUnit, CachedRedeploy)
V = TypeVar("V")
Key = tuple[str, str]


@dataclass
class _Waiter(Generic[T]):
    predicate: Callable[[T | None], bool]
    future: "asyncio.Future[T | None]"


@dataclass
class _VersionWaiter:
    scope: str | None
    version: int
    future: "asyncio.Future[None]"


class CacheNotReady(Exception):
    """The cache has no live view of the API server (never synced, or disconnected too long)."""


@dataclass
class _Store(Generic[T]):
    """Objects by (namespace, name), with waiters woken when an object changes."""

    parse: Callable[[JSON], T | None]
    objects: dict[Key, T] = field(default_factory=dict)
    waiters: dict[Key, list[_Waiter[T]]] = field(default_factory=dict)
    version_waiters: list[_VersionWaiter] = field(default_factory=list)
    watermarks: dict[str | None, int] = field(default_factory=dict)


class _Mirror(Generic[T]):
    """The shared part of both caches: reflectors per scope, a store, waiting."""

    plural: str = ""
    label_selector: str | None = None

    def __init__(
        self,
        kube: ApiServer,
        namespaces: Iterable[str],
        parse: Callable[[JSON], T | None],
        *,
        stale_after: float = 3.0,
    ) -> None:
        self._store: _Store[T] = _Store(parse)
        scopes: list[str | None] = list(namespaces) or [None]
        self.namespaces = frozenset(n for n in scopes if n is not None)
        self._reflectors = {
            scope: kube.reflector(self.plural, scope, self, label_selector=self.label_selector)
            for scope in scopes
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._stale_after = stale_after

    # Life cycle.

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(reflector.run(), name=f"watch-{self.plural}-{scope or 'all'}")
            for scope, reflector in self._reflectors.items()
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def wait_synced(self, within: float) -> bool:
        try:
            async with asyncio.timeout(within):
                for reflector in self._reflectors.values():
                    await reflector.synced.wait()
        except TimeoutError:
            return False
        return True

    def serves(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces

    def _reflector(self, namespace: str) -> Reflector:
        return self._reflectors[namespace if self.namespaces else None]

    def ready(self, namespace: str | None = None) -> bool:
        """Synced and with a live (or only briefly interrupted) watch."""
        reflectors = (
            [self._reflector(namespace)]
            if namespace is not None and self.serves(namespace)
            else list(self._reflectors.values())
        )
        return all(r.synced.is_set() and r.stale_for() <= self._stale_after for r in reflectors)

    def ensure_ready(self, namespace: str) -> None:
        if not self.ready(namespace):
            raise CacheNotReady(f"the cache of {self.plural} is not in sync with the API server")

    # Sink.

    def parse_page(self, objects: list[JSON]) -> list[Any]:
        parsed = (self._store.parse(obj) for obj in objects)
        return [item for item in parsed if item is not None]

    def replace(self, scope: str | None, parsed: list[Any], resource_version: int) -> None:
        store = self._store
        fresh: dict[Key, T] = {(item.namespace, item.name): item for item in parsed}
        stale = [key for key in store.objects if scope is None or key[0] == scope]
        for key in stale:
            if key not in fresh:
                del store.objects[key]
                self._on_change(key, None)
        for key, value in fresh.items():
            old = store.objects.get(key)
            store.objects[key] = value
            if old is None or old.resource_version != value.resource_version:
                self._on_change(key, value)
        self._advance(scope, resource_version)
        for key in list(store.waiters):
            if scope is None or key[0] == scope:
                self._wake(key)

    def apply(self, scope: str | None, event_type: str, obj: JSON, resource_version: int) -> None:
        store = self._store
        if event_type in ("ADDED", "MODIFIED", "DELETED"):
            meta = _meta(obj)
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            old = store.objects.get(key)
            if event_type == "DELETED":
                if old is not None:
                    del store.objects[key]
                    self._on_change(key, None)
            else:
                parsed = store.parse(obj)
                if parsed is None:
                    if old is not None:
                        del store.objects[key]
                        self._on_change(key, None)
                elif old is None or parsed.resource_version >= old.resource_version:
                    store.objects[key] = parsed
                    self._on_change(key, parsed)
            self._wake(key)
        self._advance(scope, resource_version)

    # Hooks for subclasses.

    def _on_change(self, key: Key, value: T | None) -> None:
        """Called for every stored change, before waiters are woken."""

    # Waiting.

    def get(self, namespace: str, name: str) -> T | None:
        return self._store.objects.get((namespace, name))

    def _wake(self, key: Key) -> None:
        waiters = self._store.waiters.get(key)
        if not waiters:
            return
        current = self._store.objects.get(key)
        remaining = []
        for waiter in waiters:
            if waiter.future.done():
                continue
            try:
                satisfied = waiter.predicate(current)
            except Exception as error:  # a broken predicate must not break the watch
                waiter.future.set_exception(error)
                continue
            if satisfied:
                waiter.future.set_result(current)
            else:
                remaining.append(waiter)
        if remaining:
            self._store.waiters[key] = remaining
        else:
            del self._store.waiters[key]

    async def wait_for(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[T | None], bool],
        within: float,
    ) -> T | None:
        """The object once predicate(object or None) holds; TimeoutError after `within` s."""
        key = (namespace, name)
        current = self._store.objects.get(key)
        if predicate(current):
            return current
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._store.waiters.setdefault(key, []).append(_Waiter(predicate, future))
        try:
            async with asyncio.timeout(within):
                return await future
        finally:
            if not future.done():
                future.cancel()
            waiters = self._store.waiters.get(key)
            if waiters is not None:
                waiters[:] = [w for w in waiters if w.future is not future]
                if not waiters:
                    del self._store.waiters[key]

    def _advance(self, scope: str | None, resource_version: int) -> None:
        store = self._store
        if resource_version > store.watermarks.get(scope, 0):
            store.watermarks[scope] = resource_version
        mark = store.watermarks.get(scope, 0)
        keep = []
        for waiter in store.version_waiters:
            if waiter.future.done():
                continue
            if waiter.scope == scope and waiter.version <= mark:
                waiter.future.set_result(None)
            else:
                keep.append(waiter)
        store.version_waiters = keep

    async def wait_version(self, namespace: str, resource_version: int, within: float) -> None:
        """Return once the cache has seen every change of the namespace up to resource_version."""
        scope = namespace if self.namespaces else None
        if self._store.watermarks.get(scope, 0) >= resource_version:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._store.version_waiters.append(_VersionWaiter(scope, resource_version, future))
        async with asyncio.timeout(within):
            await future


class UnitReads(Protocol):
    """The reads the Camunda routes make: by id, all, derived views (UnitCache, or the view of
    the units synced to a bound engine)."""

    def deployment(self, namespace: str, deployment_id: str) -> CachedUnit | None: ...

    def deployments(self, namespace: str) -> list[CachedUnit]: ...

    def sorted_view(
        self, namespace: str, name: str, key: Callable[[CachedUnit], Any]
    ) -> list[CachedUnit]: ...

    def derived(self, namespace: str, name: str, build: Callable[[], V]) -> V: ...


def sorted_view(
    reads: UnitReads, namespace: str, name: str, key: Callable[[CachedUnit], Any]
) -> list[CachedUnit]:
    """The units of `reads` sorted by key (`name` names the order); kept until they change."""
    return reads.derived(
        namespace, f"sorted:{name}", lambda: sorted(reads.deployments(namespace), key=key)
    )


class DerivedViews:
    """Values derived from a set of units (sorted lists, indexes), each kept until the set's
    version changes: a read builds one at most once per change."""

    def __init__(self) -> None:
        self._views: dict[Hashable, tuple[int, Any]] = {}

    def get(self, key: Hashable, version: int, build: Callable[[], V]) -> V:
        cached = self._views.get(key)
        if cached is not None and cached[0] == version:
            value: V = cached[1]
            return value
        value = build()
        self._views[key] = (version, value)
        return value


class UnitCache(_Mirror[CachedUnit]):
    """Every DeploymentUnit the shim serves, indexed by (namespace, deploymentId)."""

    plural = constants.DEPLOYMENT_UNIT_PLURAL

    def __init__(self, kube: ApiServer, namespaces: Iterable[str]) -> None:
        super().__init__(kube, namespaces, parse_unit)
        self._by_id: dict[Key, dict[str, CachedUnit]] = {}
        #: Bumped whenever the visible set of a namespace changes (keys sorted views).
        self._versions: dict[str, int] = {}
        self._visible: dict[str, dict[str, CachedUnit]] = {}
        self._views = DerivedViews()
        self._ids: dict[Key, str] = {}
        self._listeners: list[Callable[[Key, CachedUnit | None], None]] = []

    def add_listener(self, listener: Callable[[Key, CachedUnit | None], None]) -> None:
        """Call listener(key, unit or None when deleted) for every stored change, for indexes
        derived elsewhere; it first receives every unit already cached."""
        self._listeners.append(listener)
        for key, unit in list(self._store.objects.items()):
            listener(key, unit)

    def _on_change(self, key: Key, value: CachedUnit | None) -> None:
        for listener in self._listeners:
            listener(key, value)
        namespace, name = key
        changed = False
        old_id = self._ids.pop(key, None)
        if old_id is not None:
            bucket = self._by_id.get((namespace, old_id))
            if bucket is not None:
                bucket.pop(name, None)
                if not bucket:
                    del self._by_id[(namespace, old_id)]
            visible = self._visible.get(namespace, {})
            shown = visible.get(old_id)
            if shown is not None and shown.name == name:
                del visible[old_id]
                changed = True
                # Another unit may carry the same id (ids are not unique in the API server).
                for other in (bucket or {}).values():
                    if other.visible:
                        visible[old_id] = other
                        break
        if value is not None:
            self._ids[key] = value.deployment_id
            self._by_id.setdefault((namespace, value.deployment_id), {})[name] = value
            if value.visible:
                self._visible.setdefault(namespace, {})[value.deployment_id] = value
                changed = True
        if changed:
            self._versions[namespace] = self._versions.get(namespace, 0) + 1

    def units_with_id(self, namespace: str, deployment_id: str) -> list[CachedUnit]:
        """Every cached unit of the namespace with this deployment id (visible or not)."""
        return list(self._by_id.get((namespace, deployment_id), {}).values())

    def units_with(self, namespace: str, sha256: str) -> list[CachedUnit]:
        """Every cached unit of the namespace whose spec references the snapshot of this hash."""
        return [
            unit
            for (ns, _), unit in self._store.objects.items()
            if ns == namespace
            and any(ref.sha256 == sha256 for ref in unit.spec.resources.snapshots or ())
        ]

    def every_unit(self) -> list[CachedUnit]:
        """Every cached unit of every namespace, visible or not (the console lists them all)."""
        return list(self._store.objects.values())

    def deployment(self, namespace: str, deployment_id: str) -> CachedUnit | None:
        """The visible unit with this deployment id, if any."""
        return self._visible.get(namespace, {}).get(deployment_id)

    def deployments(self, namespace: str) -> list[CachedUnit]:
        """The visible units of a namespace, in no particular order."""
        return list(self._visible.get(namespace, {}).values())

    def sorted_view(
        self, namespace: str, name: str, key: Callable[[CachedUnit], Any]
    ) -> list[CachedUnit]:
        """The visible units sorted by key; cached until the namespace's visible set changes."""
        return sorted_view(self, namespace, name, key)

    def derived(self, namespace: str, name: str, build: Callable[[], V]) -> V:
        """A value derived from the namespace's visible units (`name` tells it apart), built
        again only once they change."""
        return self._views.get((namespace, name), self._versions.get(namespace, 0), build)

    def count(self) -> int:
        return len(self._store.objects)


class RedeployCache(_Mirror[CachedRedeploy]):
    """The Redeploys the shim created (by label), to wait for their outcome."""

    plural = constants.REDEPLOY_PLURAL
    label_selector = f"{constants.CREATED_BY_LABEL}={constants.CREATED_BY}"

    def __init__(self, kube: ApiServer, namespaces: Iterable[str]) -> None:
        super().__init__(kube, namespaces, parse_redeploy)
