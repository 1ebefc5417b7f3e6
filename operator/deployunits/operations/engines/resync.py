"""The ProcessEngine's resync: its status written once, then its units brought along."""

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from deployunits import constants
from deployunits.engines import (
    EngineError,
    EngineRefused,
    EngineSettingsError,
    EngineUnauthorized,
    EngineUnavailable,
    KieServerClient,
)
from deployunits.engines.kie_wire import ContainerStatus
from deployunits.k8s.errors import ApiError
from deployunits.k8s.gateway import ApiServer
from deployunits.k8s.meta import ObjectMeta
from deployunits.models.conditions import now
from deployunits.models.deploymentunit import (
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    EngineSync,
)
from deployunits.operations.engines import kie
from deployunits.operations.engines.adoption import adopt
from deployunits.operations.engines.binding import binding
from deployunits.operations.engines.context import Engine, EnginesContext, Ref
from deployunits.operations.engines.push import (
    created_definitions,
    engine_sync,
    find_push,
    new_deployment,
    sync_of,
)
from deployunits.reconcile import engine as decide
from deployunits.reconcile.deploymentunit import NamedContent

logger = logging.getLogger(__name__)

UnitAction = Callable[[Ref], Coroutine[Any, Any, None]]


async def reconcile_engine(
    ctx: EnginesContext, ref: Ref, sync_unit: UnitAction, retry_unit: UnitAction
) -> float | None:
    """Look at the engine, write its status once, then bring its units along.

    Returns the seconds until the next resync (None: the ProcessEngine is gone).
    """
    namespace, name = ref
    engine = await ctx.kube.engines.find(namespace, name)
    if engine is None:
        ctx.forget(ref)
        return None
    meta = ObjectMeta.model_validate(engine.metadata)
    spec = engine.spec
    # An empty status ({}) is none yet.
    current = (
        engine.status if engine.status is not None and engine.status.model_fields_set else None
    )
    default = meta.annotations.get(constants.DEFAULT_ENGINE_ANNOTATION, "").lower() == "true"
    deleting = bool(meta.deletion_timestamp)
    if not deleting and constants.FINALIZER not in meta.finalizers:
        # Its deletion waits for the units that have deployments in it (see below).
        try:
            written = await ctx.kube.engines.set_finalizer(meta, present=True)
        except ApiError as error:
            if not (error.conflict or error.not_found):
                raise
            return 1.0  # changed meanwhile: read again soon
        if written is not None:
            meta = meta.at(written)
    seen = await _observe(ctx, ref)
    units = ctx.units_of(namespace)
    holding = decide.holding_units(name, units) if deleting else None
    served, _ = decide.bound_units(name, default, units)
    synced = sum(1 for u in served if u.engine == name and u.deployment_id)
    owned = ctx.owned_anywhere()
    # Ids the index shows on their units need no claim of this process any more.
    ctx.claimed -= owned
    # What units pushed, now or for an earlier job (the push marker), is theirs: only the rest
    # is unmanaged.
    strangers = seen.deployment_ids - seen.pushed - owned
    unmanaged = len(strangers) if seen.version is not None else None
    new = decide.engine_status(
        current,
        seen,
        spec.endpoint.url,
        synced,
        unmanaged,
        meta.generation or 0,
        now(),
        holding,
    )
    if new != current:
        try:
            meta = meta.at(await ctx.kube.engines.write_status(namespace, name, new))
        except ApiError as error:
            if not error.not_found:
                raise
            ctx.forget(ref)
            return None
    if holding is not None:
        names = set(holding)
        held = [u for u in units if u.name in names]
        return await _deletion(ctx, ref, meta, held, retry_unit, spec.resync_seconds)
    if seen.version is None:
        return float(spec.resync_seconds)
    if spec.adopt_existing and spec.camunda7 is not None:
        # Only what two resyncs in a row found unmanaged: a push whose answer is still on its
        # way (its unit records it seconds later) is never taken for a stranger.
        now_unmanaged = frozenset(strangers - ctx.claimed)
        before = ctx.unmanaged_before.get(ref, frozenset())
        ctx.unmanaged_before[ref] = now_unmanaged
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


async def _deletion(
    ctx: EnginesContext,
    ref: Ref,
    meta: ObjectMeta,
    holding: Sequence[decide.UnitEntry],
    retry_unit: UnitAction,
    resync_seconds: int,
) -> float | None:
    """A ProcessEngine being deleted lets go once no unit has deployments in it; until then
    it pushes nothing and adopts nothing, and retries the undeploys its engine refused."""
    if not holding:
        try:
            await ctx.kube.engines.set_finalizer(meta, present=False)
        except ApiError as error:
            if error.conflict:
                return 1.0
            if not error.not_found:
                raise
        ctx.forget(ref)
        return None
    for unit in holding:
        if decide.resync_action(unit, frozenset()) is not decide.ResyncAction.RETRY_UNDEPLOY:
            continue  # deployed: it waits for its undeploy or deletion
        unit_ref = (ref[0], unit.name)
        ctx.retry_undeploy.add(unit_ref)
        try:
            await retry_unit(unit_ref)
        except Exception as error:  # one unit's trouble does not stop the others
            logger.warning("Resync of unit %s/%s failed: %s", *unit_ref, error)
    return float(min(resync_seconds, 10))


async def _observe(ctx: EnginesContext, ref: Ref) -> decide.EngineObservation:
    try:
        engine = await ctx.client(*ref, fresh=True)
        if engine.kie is not None:
            ctx.count("version")
            ctx.count("list")
            return await kie.observe(engine.kie)
        ctx.count("version")
        version = await engine.camunda.version()
        ids: set[str] = set()
        pushed: set[str] = set()
        page = 0
        while True:
            ctx.count("list")
            listed = await engine.camunda.deployments(first_result=page * 500, max_results=500)
            ids.update(d.id for d in listed)
            pushed.update(d.id for d in listed if decide.pushed_by(d.source) is not None)
            if len(listed) < 500:
                break
            page += 1
        return decide.EngineObservation(
            version=version, deployment_ids=frozenset(ids), pushed=frozenset(pushed)
        )
    except EngineSettingsError as error:
        return decide.EngineObservation(problem=str(error), temporary=False)
    except EngineUnauthorized as error:
        return decide.EngineObservation(problem=str(error), temporary=False)
    except EngineRefused as error:
        return decide.EngineObservation(problem=str(error), temporary=False)
    except EngineUnavailable as error:
        return decide.EngineObservation(problem=str(error), temporary=True)


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


#: A resync's outcome: the unit's status to write, and its Event's reason and message.
Resynced = tuple[DeploymentUnitStatus, str, str]
#: What the engine was given again: the unit's new record, and the Event's reason and message.
_Pushed = tuple[EngineSync, str, str]


async def resync_unit(
    ctx: EnginesContext,
    body: Mapping[str, Any],
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus,
    generation: int,
) -> Resynced | None:
    """A deployed unit that its engine lacks (never pushed, or vanished): push its snapshot and
    return the status to write with an Event's reason and message; None when nothing is to be
    done."""
    meta = body["metadata"]
    namespace = meta["namespace"]
    bound = binding(ctx, namespace, spec, status)
    if bound.engine is None or bound.problem is not None or status.job is None:
        return None
    name = bound.engine
    try:
        engine = await ctx.client(namespace, name)
        if engine.kie is not None:
            pushed = await _container_again(ctx, engine.kie, name, spec, status)
        else:
            pushed = await _deployment_again(ctx, engine, meta, name, spec, status)
    except (EngineError, EngineSettingsError, ApiError) as error:
        logger.warning("Resync of %s/%s with its engine failed: %s", namespace, meta["name"], error)
        return None
    if pushed is None:
        return None
    new_sync, reason, why = pushed
    return decide.synced_status(status, new_sync, generation, now()), reason, why


def _pushed_before(name: str, status: DeploymentUnitStatus) -> str | None:
    """The id the engine gave the unit's deployment, if the unit was pushed to this engine."""
    sync = status.engine
    return sync.deployment_id if sync is not None and sync.name == name else None


def _to_default_engine(name: str) -> tuple[str, str]:
    """The Event's reason and message of a push to an engine that holds no record of the unit."""
    return (
        "PushedToDefaultEngine",
        f"Pushed to ProcessEngine '{name}', the namespace's default engine",
    )


async def _deployment_again(
    ctx: EnginesContext,
    engine: Engine,
    meta: Mapping[str, Any],
    name: str,
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus,
) -> _Pushed | None:
    """A Camunda 7 deployment that vanished (or a unit never pushed) deployed again."""
    assert status.job is not None
    namespace = meta["namespace"]
    pushed_as = _pushed_before(name, status)
    if pushed_as is not None:
        ctx.count("get")
        if await engine.camunda.deployment(pushed_as) is not None:
            return None
        reason = "EngineDeploymentRestored"
        why = f"Deployment {pushed_as} vanished from ProcessEngine '{name}'; pushed again"
    else:
        reason, why = _to_default_engine(name)
    content = await content_from_snapshots(ctx.kube, namespace, status)
    if content is None:
        return None
    deployment = new_deployment(meta, spec, engine.spec, content)
    if isinstance(deployment, str):
        return None
    # A push of an earlier resync that was not recorded (the operator died) is taken, not
    # repeated: the engine then holds the unit once.
    found = await find_push(
        ctx, namespace, engine.camunda, deployment, status.deployment_time or ctx.active_since
    )
    if found is not None:
        new_sync = await sync_of(ctx, engine.camunda, name, status.job, found)
    else:
        ctx.count("create")
        answer = await engine.camunda.create_deployment(deployment)
        ctx.claimed.add(answer.id)
        new_sync = engine_sync(name, status.job, answer, created_definitions(answer))
    return new_sync, reason, f"{why} as deployment {new_sync.deployment_id}."


async def _container_again(
    ctx: EnginesContext,
    client: KieServerClient,
    name: str,
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus,
) -> _Pushed | None:
    """A KIE Server's container that vanished (or a unit never pushed) created again."""
    assert status.job is not None
    pushed_as = _pushed_before(name, status)
    if pushed_as is not None:
        ctx.count("get")
        found = await client.container(pushed_as)
        if found is not None and found.status is ContainerStatus.STARTED:
            return None
        reason = "EngineDeploymentRestored"
        state = "vanished from" if found is None else f"is {found.status} in"
        why = f"Container {pushed_as} {state} ProcessEngine '{name}'; created again"
    else:
        reason, why = _to_default_engine(name)
    new_sync = await kie.push_container(ctx, client, name, spec, status.job)
    return new_sync, reason, f"{why} as container {new_sync.deployment_id}."
