"""Units meet their process engines: push, look-up, undeploy, ProcessEngine status and resync.

The decisions are pure in reconcile/engine.py; this module does the I/O around them (engines
gateway, API server stores). A unit pass (operations/units.py) calls in at three places: after
its snapshots are stored (`push`), when it undeploys (`withdraw`), and when it is deleted.
"""

import asyncio
import base64
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployunits import constants
from deployunits.content.digest import sha256_hex
from deployunits.engines import (
    Camunda7Client,
    EngineError,
    EngineRefused,
    EngineSettingsError,
    EngineUnauthorized,
    EngineUnavailable,
    NewDeployment,
    NewResource,
    ResourceProblem,
    connection_for,
    credentials_from_secret,
)
from deployunits.engines.wire import DeploymentWithDefinitions
from deployunits.k8s.errors import ApiError
from deployunits.k8s.gateway import ApiServer
from deployunits.metrics import OperatorMetrics
from deployunits.models.conditions import now
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    EngineDefinition,
    EngineProblem,
    EngineSync,
    Job,
)
from deployunits.models.processengine import (
    DeletePolicy,
    KeySelector,
    ProcessEngineSpec,
    ProcessEngineStatus,
)
from deployunits.reconcile import engine as decide
from deployunits.reconcile.deploymentunit import ContentProblem, NamedContent

logger = logging.getLogger(__name__)

#: (namespace, name) of a ProcessEngine or a unit.
Ref = tuple[str, str]


@dataclass
class _Engine:
    """One engine's client, valid for the settings it was built from."""

    fingerprint: str
    spec: ProcessEngineSpec
    client: Camunda7Client


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
    _engines: dict[Ref, _Engine] = field(default_factory=dict)
    _index: Mapping[tuple[str], Iterable[decide.EngineCandidate]] | None = None
    _units: Mapping[tuple[str], Iterable[decide.UnitEntry]] | None = None
    _due: dict[Ref, float] = field(default_factory=dict)
    #: Deployments each engine's previous resync found unmanaged (adoption waits for two).
    _unmanaged: dict[Ref, frozenset[str]] = field(default_factory=dict)
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
        """Engine deployment ids any unit records, in any namespace (engines are shared, and
        their ids are unique): what is not among them is unmanaged. A scan of the index, once
        per resync."""
        index = self._units
        if index is None:
            return set()
        return {
            unit.deployment_id
            for key in list(index)
            for unit in index.get(key) or ()
            if unit.deployment_id
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
            asyncio.get_running_loop().create_task(engine.client.close())

    def forget(self, ref: Ref) -> None:
        """The ProcessEngine is gone: no more resyncs, and its client is closed."""
        self._due.pop(ref, None)
        self._unmanaged.pop(ref, None)
        self.forget_client(ref)

    async def client(self, namespace: str, name: str, *, fresh: bool = False) -> _Engine:
        """The engine's client, built from its spec and Secret (read again when `fresh`)."""
        ref = (namespace, name)
        known = self._engines.get(ref)
        if known is not None and not fresh:
            return known
        body = await self.kube.engines.find(namespace, name)
        if body is None:
            raise EngineSettingsError(f"ProcessEngine '{name}' does not exist")
        spec = ProcessEngineSpec.model_validate(body.get("spec") or {})
        credentials, ca_bundle, versions = None, None, []
        auth = spec.camunda7.auth_secret_ref
        if auth is not None:
            secret = await self.kube.secrets.find(namespace, auth.name)
            if secret is None:
                raise EngineSettingsError(f"Secret {auth.name} does not exist")
            credentials = credentials_from_secret(auth.name, _secret_data(secret))
            versions.append(str(secret["metadata"].get("resourceVersion")))
        ca = spec.camunda7.ca_bundle
        if ca is not None:
            ca_bundle = await self._ca_bundle(namespace, ca.secret_key_ref, ca.config_map_key_ref)
        fingerprint = sha256_hex(f"{spec.model_dump_json()}|{versions}|{ca_bundle}".encode())
        if known is not None and known.fingerprint == fingerprint:
            return known
        connection = connection_for(spec.camunda7, credentials, ca_bundle)
        engine = _Engine(fingerprint, spec, Camunda7Client(connection))
        self._engines[ref] = engine
        if known is not None:
            await known.client.close()
        return engine

    async def _ca_bundle(
        self, namespace: str, secret_ref: KeySelector | None, config_map_ref: KeySelector | None
    ) -> str:
        if secret_ref is not None:
            secret = await self.kube.secrets.find(namespace, secret_ref.name)
            value = _secret_data(secret or {}).get(secret_ref.key)
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

    def start(self, *, sync_unit: "UnitAction", retry_unit: "UnitAction") -> None:
        """Start the resync loop (stopped by close())."""
        self._loop = asyncio.create_task(self._resyncs(sync_unit, retry_unit))

    async def _resyncs(self, sync_unit: "UnitAction", retry_unit: "UnitAction") -> None:
        """Reconcile each known ProcessEngine when it is due (every resyncSeconds, or at once
        when it changed), one at a time; runs for the life of the operator."""
        loop = asyncio.get_running_loop()
        while True:
            for ref in self.known():
                due = self._due.setdefault(ref, 0.0)
                if due > loop.time():
                    continue
                try:
                    wait = await reconcile_engine(self, ref, sync_unit, retry_unit)
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
        for engine in self._engines.values():
            await engine.client.close()
        self._engines.clear()


def _secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    data = secret.get("data") or {}
    return {str(k): base64.b64decode(str(v)) for k, v in data.items()}


# -- binding ---------------------------------------------------------------------------------


def binding(
    ctx: EnginesContext | None,
    namespace: str,
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus | None,
) -> decide.Binding:
    """The unit's engine by its spec, its record and its namespace's ProcessEngines."""
    if ctx is None:
        return decide.Binding(None)
    recorded = status.engine.name if status is not None and status.engine is not None else None
    engine_ref = spec.engine_ref.name if spec.engine_ref is not None else None
    return decide.bind(engine_ref, ctx.candidates(namespace), recorded)


# -- push ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushOutcome:
    """What the engine made of a push: its record, its refusal, or why to try again."""

    engine: str
    sync: EngineSync | None = None
    refused: EngineRefused | None = None
    waiting: ContentProblem | None = None

    def status(
        self,
        deployed: DeploymentUnitStatus,
        before: DeploymentUnitStatus | None,
        job: Job,
        spec: DeploymentUnitSpec,
        generation: int,
    ) -> DeploymentUnitStatus:
        """The one status the pass writes, from the status an unbound unit would get."""
        at = now()
        if self.sync is not None:
            return decide.synced_status(deployed, self.sync, generation, at)
        if self.refused is not None:
            problems = [_problem(p) for p in self.refused.problems]
            return decide.refused_status(
                before, job, spec, self.engine, self.refused.message, problems, generation, at
            )
        assert self.waiting is not None
        return decide.unreachable_status(before, job, self.engine, self.waiting, generation, at)


def _problem(problem: ResourceProblem) -> EngineProblem:
    return EngineProblem(
        resource=problem.resource or None,
        message=problem.message[:4096],
        line=problem.line,
        column=problem.column,
        main_element_id=problem.main_element_id,
        element_ids=[e[:1024] for e in problem.element_ids[:64]],
    )


def _waiting(error: EngineError | EngineSettingsError | ApiError, engine: str) -> ContentProblem:
    reason = (
        decide.SyncReason.ENGINE_UNAUTHORIZED
        if isinstance(error, EngineUnauthorized)
        else decide.SyncReason.ENGINE_UNAVAILABLE
    )
    return ContentProblem(
        f"ProcessEngine '{engine}' cannot be reached, the push is retried: {error}", True, reason
    )


def engine_sync(
    engine: str, job: Job, created: DeploymentWithDefinitions | Any, definitions: Any
) -> EngineSync:
    """The unit's record of a deployment in the engine, from its definitions (by kind)."""
    found: list[EngineDefinition] = []
    for kind, items in definitions:
        for item in items:
            found.append(
                EngineDefinition(
                    kind=kind,
                    id=item.id,
                    key=item.key,
                    version=item.version,
                    resource=item.resource or "",
                )
            )
    return EngineSync(
        name=engine,
        job=job.identifier,
        deployment_id=created.id,
        deployment_time=created.deployment_time,
        definitions=found,
    )


def _created_definitions(created: DeploymentWithDefinitions) -> list[tuple[str, Iterable[Any]]]:
    return [
        ("process", (created.deployed_process_definitions or {}).values()),
        ("decision", (created.deployed_decision_definitions or {}).values()),
        ("case", (created.deployed_case_definitions or {}).values()),
        (
            "decision-requirements",
            (created.deployed_decision_requirements_definitions or {}).values(),
        ),
    ]


async def push(
    ctx: EnginesContext | None,
    body: Mapping[str, Any],
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus | None,
    job: Job,
    content: Sequence[NamedContent],
) -> PushOutcome | None:
    """Send a bound unit's content to its engine once per job; None for an unbound unit."""
    meta = body["metadata"]
    namespace = meta["namespace"]
    bound = binding(ctx, namespace, spec, status)
    if bound.problem is not None:
        return PushOutcome(bound.engine or "", waiting=bound.problem)
    if ctx is None or bound.engine is None:
        return None
    name = bound.engine
    if decide.is_synced(status, name, job):
        # Recorded already (a rewrite of the same job's status): never pushed twice.
        assert status is not None and status.engine is not None
        return PushOutcome(name, sync=status.engine)
    key = (namespace, meta["name"], job.identifier)
    adopted = (meta.get("annotations") or {}).get(constants.ADOPTED_FROM_ANNOTATION)
    try:
        engine = await ctx.client(namespace, name)
        if adopted and (status is None or status.engine is None or not status.engine.job):
            # Imported from the engine: its deployment is the unit's, never pushed again.
            ctx.count("get")
            existing = await engine.client.deployment(adopted)
            if existing is not None:
                seen = decide.EngineDeploymentSeen(
                    existing.id,
                    existing.name,
                    existing.source,
                    existing.tenant_id,
                    existing.deployment_time,
                )
                return PushOutcome(name, sync=await _sync_of(ctx, engine.client, name, job, seen))
        deployment = NewDeployment(
            name=decide.pushed_name(spec),
            source=spec.source,
            tenant_id=decide.pushed_tenant(spec, engine.spec),
            resources=tuple(NewResource(name=c.name, content=c.content) for c in content),
        )
        created = _created(meta)
        lookup = decide.needs_lookup(
            created=created or ctx.active_since,
            generation=int(meta.get("generation") or 1),
            active_since=ctx.active_since,
            attempted_here=key in ctx.attempted,
        )
        if lookup:
            since = job.started or created or ctx.active_since
            found = await find_push(ctx, namespace, engine.client, deployment, since)
            if found is not None:
                logger.info("Found the push of %s/%s in engine %s.", namespace, meta["name"], name)
                return PushOutcome(name, sync=await _sync_of(ctx, engine.client, name, job, found))
        ctx.attempted.add(key)
        ctx.count("create")
        answer = await engine.client.create_deployment(deployment)
    except EngineUnauthorized as error:
        ctx.forget_client((namespace, name))
        return PushOutcome(name, waiting=_waiting(error, name))
    except EngineRefused as error:
        return PushOutcome(name, refused=error)
    except (EngineUnavailable, EngineSettingsError, ApiError) as error:
        if isinstance(error, EngineSettingsError):
            ctx.forget_client((namespace, name))
        return PushOutcome(name, waiting=_waiting(error, name))
    ctx.attempted.discard(key)
    ctx.claimed.add(answer.id)
    return PushOutcome(name, sync=engine_sync(name, job, answer, _created_definitions(answer)))


def _created(meta: Mapping[str, Any]) -> datetime | None:
    raw = meta.get("creationTimestamp")
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None


async def find_push(
    ctx: EnginesContext,
    namespace: str,
    client: Camunda7Client,
    deployment: NewDeployment,
    since: datetime,
) -> decide.EngineDeploymentSeen | None:
    """An earlier push of exactly this deployment that no unit's status records."""
    owned = ctx.claimed | {u.deployment_id for u in ctx.units_of(namespace) if u.deployment_id}
    ctx.count("lookup")
    listed = await client.deployments(
        name=deployment.name,
        source=deployment.source,
        tenant_id=deployment.tenant_id,
        without_tenant=deployment.tenant_id is None,
    )
    pushed = {r.name: sha256_hex(r.content) for r in deployment.resources}
    candidates = []
    for item in listed:
        if item.id in owned:
            continue
        seen = decide.EngineDeploymentSeen(
            id=item.id,
            name=item.name,
            source=item.source,
            tenant_id=item.tenant_id,
            deployment_time=item.deployment_time,
        )
        if not decide.worth_reading(
            seen, deployment.name, deployment.source, deployment.tenant_id, since
        ):
            continue
        ctx.count("lookup-resources")
        resources = await client.resources(item.id)
        if {r.name for r in resources} != set(pushed):
            continue
        ctx.count("lookup-data", len(resources))
        data = {r.name: sha256_hex(await client.resource_data(item.id, r.id)) for r in resources}
        candidates.append((seen, data))
    return decide.recognize(candidates, pushed)


async def _sync_of(
    ctx: EnginesContext,
    client: Camunda7Client,
    engine: str,
    job: Job,
    found: decide.EngineDeploymentSeen,
) -> EngineSync:
    ctx.count("definitions", 4)
    ctx.claimed.add(found.id)
    definitions = await client.definitions(found.id)
    return engine_sync(
        engine,
        job,
        found,
        [
            ("process", definitions.processes),
            ("decision", definitions.decisions),
            ("case", definitions.cases),
            ("decision-requirements", definitions.decision_requirements),
        ],
    )


# -- undeploy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WithdrawOutcome:
    """What deleting a unit's engine deployment came to."""

    #: The status to write (None: write what an unbound unit would).
    status: DeploymentUnitStatus | None = None
    #: Why to try again later (nothing is written then).
    retry: str | None = None
    #: The engine keeps the deployment: the unit stays (deletion waits).
    refused: bool = False


async def withdraw(
    ctx: EnginesContext | None,
    ref: Ref,
    status: DeploymentUnitStatus | None,
    undeployed: DeploymentUnitStatus,
    job: Job,
    generation: int,
) -> WithdrawOutcome:
    """Delete the unit's deployment in its engine (cascade per the engine's deletePolicy)."""
    sync = status.engine if status is not None else None
    if ctx is None or sync is None or sync.deployment_id is None:
        return WithdrawOutcome(
            decide.withdrawn_status(undeployed, generation, now()) if sync else None
        )
    assert status is not None
    if (
        status.status is DeploymentStatus.UNDEPLOY_FAILED
        and status.observed_generation == generation
        and ref not in ctx.retry_undeploy
    ):
        # Refused before: tried again on the engine's resync, not on every event.
        return WithdrawOutcome(refused=True)
    ctx.retry_undeploy.discard(ref)
    try:
        engine = await ctx.client(ref[0], sync.name)
        ctx.count("delete")
        await engine.client.delete_deployment(
            sync.deployment_id, cascade=engine.spec.delete_policy is DeletePolicy.CASCADE
        )
    except EngineUnauthorized as error:
        ctx.forget_client((ref[0], sync.name))
        return WithdrawOutcome(retry=str(error))
    except EngineRefused as error:
        refused = decide.undeploy_refused_status(
            status, job, sync.name, _engine_said(error), generation, now()
        )
        return WithdrawOutcome(status=refused, refused=True)
    except EngineSettingsError as error:
        if "does not exist" in str(error) and sync.name not in {
            c.name for c in ctx.candidates(ref[0])
        }:
            # The engine's object is gone: nothing of the operator's can reach it any more.
            return WithdrawOutcome(decide.withdrawn_status(undeployed, generation, now()))
        ctx.forget_client((ref[0], sync.name))
        return WithdrawOutcome(retry=str(error))
    except (EngineUnavailable, ApiError) as error:
        return WithdrawOutcome(retry=str(error))
    return WithdrawOutcome(decide.withdrawn_status(undeployed, generation, now()))


def _engine_said(error: EngineError) -> str:
    # The gateway's message starts with the call; the engine's own words follow its status.
    return error.message.split("): ", 1)[-1] if "): " in error.message else error.message


# -- the ProcessEngine -----------------------------------------------------------------------


UnitAction = Callable[[Ref], Coroutine[Any, Any, None]]


async def reconcile_engine(
    ctx: EnginesContext, ref: Ref, sync_unit: UnitAction, retry_unit: UnitAction
) -> float | None:
    """Look at the engine, write its status once, then bring its units along.

    Returns the seconds until the next resync (None: the ProcessEngine is gone).
    """
    namespace, name = ref
    body = await ctx.kube.engines.find(namespace, name)
    if body is None:
        ctx.forget(ref)
        return None
    meta = body["metadata"]
    spec = ProcessEngineSpec.model_validate(body.get("spec") or {})
    raw_status = body.get("status") or {}
    current = ProcessEngineStatus.model_validate(raw_status) if raw_status else None
    default = (
        str((meta.get("annotations") or {}).get(constants.DEFAULT_ENGINE_ANNOTATION, "")).lower()
        == "true"
    )
    seen = await _observe(ctx, ref)
    units = ctx.units_of(namespace)
    served, _ = decide.bound_units(name, default, units)
    synced = sum(1 for u in served if u.engine == name and u.deployment_id)
    owned = ctx.owned_anywhere()
    # Ids the index shows on their units need no claim of this process any more.
    ctx.claimed -= owned
    unmanaged = len(seen.deployment_ids - owned) if seen.version is not None else None
    new = decide.engine_status(
        current,
        seen,
        spec.camunda7.url,
        synced,
        unmanaged,
        int(meta.get("generation") or 0),
        now(),
    )
    if new != current:
        try:
            await ctx.kube.engines.write_status(namespace, name, new)
        except ApiError as error:
            if not error.not_found:
                raise
            ctx.forget(ref)
            return None
    if seen.version is None:
        return float(spec.resync_seconds)
    if spec.adopt_existing:
        # Only what two resyncs in a row found unmanaged: a push whose answer is still on its
        # way (its unit records it seconds later) is never taken for a stranger.
        now_unmanaged = frozenset(seen.deployment_ids - owned - ctx.claimed)
        before = ctx._unmanaged.get(ref, frozenset())
        ctx._unmanaged[ref] = now_unmanaged
        await adopt(ctx, ref, sorted(now_unmanaged & before))
    for unit in served:
        unit_ref = (namespace, unit.name)
        action = decide.resync_action(unit, seen.deployment_ids)
        try:
            if action is decide.ResyncAction.RETRY_UNDEPLOY:
                ctx.retry_undeploy.add(unit_ref)
                await retry_unit(unit_ref)
            elif action is decide.ResyncAction.RETRY:
                await retry_unit(unit_ref)
            elif action is decide.ResyncAction.PUSH:
                await sync_unit(unit_ref)
        except Exception as error:  # one unit's trouble does not stop the others
            logger.warning("Resync of unit %s/%s failed: %s", namespace, unit.name, error)
    return float(spec.resync_seconds)


async def _observe(ctx: EnginesContext, ref: Ref) -> decide.EngineObservation:
    try:
        engine = await ctx.client(*ref, fresh=True)
        ctx.count("version")
        version = await engine.client.version()
        ids: set[str] = set()
        page = 0
        while True:
            ctx.count("list")
            listed = await engine.client.deployments(first_result=page * 500, max_results=500)
            ids.update(d.id for d in listed)
            if len(listed) < 500:
                break
            page += 1
        return decide.EngineObservation(version=version, deployment_ids=frozenset(ids))
    except EngineSettingsError as error:
        return decide.EngineObservation(problem=str(error), temporary=False)
    except EngineUnauthorized as error:
        return decide.EngineObservation(problem=str(error), temporary=False)
    except EngineRefused as error:
        return decide.EngineObservation(problem=str(error), temporary=False)
    except EngineUnavailable as error:
        return decide.EngineObservation(problem=str(error), temporary=True)


#: Deployments imported per resync at most (each costs a few engine and API server calls).
ADOPTIONS_PER_RESYNC = 20


async def adopt(ctx: EnginesContext, ref: Ref, unmanaged: Sequence[str]) -> None:
    """Import deployments no unit owns, once each, as DeploymentUnits bound to the engine: the
    content read from the engine and stored as snapshots, labelled as adopted. The unit's pass
    then takes the engine's deployment as its own (see push), so nothing is deployed twice."""
    namespace, name = ref
    engine = await ctx.client(namespace, name)
    adopted = 0
    for deployment_id in unmanaged:
        if adopted >= ADOPTIONS_PER_RESYNC:
            break
        unit_name = decide.adopted_unit_name(deployment_id)
        if unit_name is None or await ctx.kube.units.find(namespace, unit_name) is not None:
            continue
        try:
            ctx.count("get")
            found = await engine.client.deployment(deployment_id)
            if found is None:
                continue
            ctx.count("resources")
            resources = await engine.client.resources(deployment_id)
            contents = []
            for resource in resources:
                ctx.count("data")
                contents.append(
                    (resource.name, await engine.client.resource_data(deployment_id, resource.id))
                )
        except EngineError as error:
            logger.warning("Adopting deployment %s of %s/%s failed: %s", deployment_id, *ref, error)
            continue
        seen = decide.EngineDeploymentSeen(
            found.id, found.name, found.source, found.tenant_id, found.deployment_time
        )
        unit = decide.adopted_unit(name, unit_name, seen, [(n, sha256_hex(c)) for n, c in contents])
        if unit is None:
            continue
        for _, content in contents:
            await ctx.kube.snapshots.create(namespace, sha256_hex(content), content)
        try:
            await ctx.kube.units.create(namespace, unit)
        except ApiError as error:
            if not error.conflict:
                raise
        adopted += 1
        logger.info("Adopted deployment %s of %s/%s as unit %s.", deployment_id, *ref, unit_name)


# -- a deployed unit brought to its engine outside a deploy job ------------------------------


async def content_from_snapshots(
    kube: ApiServer, namespace: str, status: DeploymentUnitStatus
) -> list[NamedContent] | None:
    """The unit's stored resources, read back from its snapshots (None: one is unreadable)."""
    found = []
    for resource in status.resources:
        if resource.config_map is None:
            return None
        data = await kube.snapshots.content(namespace, resource.config_map, resource.sha256)
        if data is None:
            return None
        found.append(NamedContent(resource.name, data))
    return found


async def resync_unit(
    ctx: EnginesContext,
    body: Mapping[str, Any],
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus,
    generation: int,
) -> tuple[DeploymentUnitStatus, str, str] | None:
    """A deployed unit that its engine lacks (never pushed, or vanished): push its snapshot and
    return the status to write with an Event's reason and message; None when nothing is to be
    done."""
    meta = body["metadata"]
    namespace = meta["namespace"]
    bound = binding(ctx, namespace, spec, status)
    if bound.engine is None or bound.problem is not None or status.job is None:
        return None
    try:
        return await _push_again(ctx, namespace, bound.engine, spec, status, generation)
    except (EngineError, EngineSettingsError, ApiError) as error:
        logger.warning("Resync of %s/%s with its engine failed: %s", namespace, meta["name"], error)
        return None


async def _push_again(
    ctx: EnginesContext,
    namespace: str,
    name: str,
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus,
    generation: int,
) -> tuple[DeploymentUnitStatus, str, str] | None:
    assert status.job is not None
    engine = await ctx.client(namespace, name)
    sync = status.engine
    if sync is not None and sync.name == name and sync.deployment_id is not None:
        ctx.count("get")
        if await engine.client.deployment(sync.deployment_id) is not None:
            return None
        reason = "EngineDeploymentRestored"
        why = f"Deployment {sync.deployment_id} vanished from ProcessEngine '{name}'; pushed again"
    else:
        reason = "PushedToDefaultEngine"
        why = f"Pushed to ProcessEngine '{name}', the namespace's default engine"
    content = await content_from_snapshots(ctx.kube, namespace, status)
    if content is None:
        return None
    deployment = NewDeployment(
        name=decide.pushed_name(spec),
        source=spec.source,
        tenant_id=decide.pushed_tenant(spec, engine.spec),
        resources=tuple(NewResource(name=c.name, content=c.content) for c in content),
    )
    # A push of an earlier resync that was not recorded (the operator died) is taken, not
    # repeated: the engine then holds the unit once.
    found = await find_push(
        ctx, namespace, engine.client, deployment, status.deployment_time or ctx.active_since
    )
    if found is not None:
        new_sync = await _sync_of(ctx, engine.client, name, status.job, found)
    else:
        ctx.count("create")
        answer = await engine.client.create_deployment(deployment)
        ctx.claimed.add(answer.id)
        new_sync = engine_sync(name, status.job, answer, _created_definitions(answer))
    why += f" as deployment {new_sync.deployment_id}."
    return decide.synced_status(status, new_sync, generation, now()), reason, why
