"""One reconcile pass of a DeploymentUnit: observe, decide (pure), store, allocate, write once."""

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deployunits import constants
from deployunits.content.maven import MavenHttp
from deployunits.k8s.errors import ApiError
from deployunits.k8s.gateway import ApiServer
from deployunits.k8s.meta import ObjectMeta, metadata_of
from deployunits.metrics import OperatorMetrics
from deployunits.models.conditions import now, now_ms
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    Job,
    JobOperation,
)
from deployunits.operations import engines, sources
from deployunits.operations.engines import EnginesContext
from deployunits.operations.history import DuplicateHistory, HistoryKey, history_key
from deployunits.operations.retries import ObjectRef, RetryLater
from deployunits.operations.runner import PassRunner, PassSlots, at_version, ref_of
from deployunits.operations.versions import VersionAllocator, VersionSlot
from deployunits.reconcile import deploymentunit as decide
from deployunits.settings import OperatorSettings


@dataclass(frozen=True)
class _Plan:
    """What a pass over one version of a unit is about to do."""

    spec: DeploymentUnitSpec
    status: DeploymentUnitStatus | None
    generation: int
    action: decide.Action
    deleting: bool
    has_finalizer: bool

    @property
    def idle(self) -> bool:
        """Nothing to write at all."""
        return not self.deleting and self.action is decide.Action.NOTHING and self.has_finalizer


@dataclass
class UnitsContext:
    """Everything a pass needs from the operator's lifetime."""

    settings: OperatorSettings
    kube: ApiServer
    http: MavenHttp
    metrics: OperatorMetrics | None = None
    slots: PassSlots = field(default_factory=PassSlots)
    runner: PassRunner[_Plan] = field(init=False)
    versions: VersionAllocator = field(init=False)
    duplicates: DuplicateHistory = field(default_factory=DuplicateHistory)
    _policies: dict[str, tuple[float, bool]] = field(default_factory=dict)
    #: Process engines that bound units are pushed to (issue 19); None: every unit stored only.
    engines: EnginesContext | None = None
    _states_index: Mapping[tuple[str, ...], Iterable[object]] | None = None
    _versions_index: Mapping[VersionSlot, Iterable[int]] | None = None

    def __post_init__(self) -> None:
        self.versions = VersionAllocator(self.latest_version)
        self.runner = PassRunner(
            "DeploymentUnit",
            find=lambda ref: self.kube.units.find_body(*ref),
            plan=lambda body: _plan(self, body),
            act=self._act,
            metrics=self.metrics,
            slots=self.slots,
        )

    async def _act(self, body: dict[str, Any], plan: _Plan) -> None:
        # Nothing to look at later: a unit comes back by its own events, or by a retry.
        await _pass(self, body, plan)

    def bind_indexes(
        self,
        versions: Mapping[VersionSlot, Iterable[int]],
        history: Mapping[HistoryKey, Iterable[decide.PreviousDeployment]],
    ) -> None:
        """kopf's watch-fed indexes (live views; populated before any handler runs)."""
        self._versions_index = versions
        self.duplicates.bind(history)

    def bind_states(self, states: Mapping[tuple[str, ...], Iterable[object]]) -> None:
        """kopf's index of units by status (for the metrics)."""
        self._states_index = states

    def states(self) -> Mapping[tuple[str, ...], Iterable[object]] | None:
        return self._states_index

    def latest_version(self, slot: VersionSlot) -> int:
        """The highest version any unit's status holds for the slot."""
        index = self._versions_index
        return max(index.get(slot) or (), default=0) if index is not None else 0

    @property
    def limits(self) -> decide.Limits:
        return decide.Limits(
            max_resource_bytes=self.settings.max_resource_bytes,
            max_unit_bytes=self.settings.max_unit_bytes,
            max_resources=self.settings.max_resources_per_unit,
        )

    async def denies_custom_code(self, namespace: str) -> bool:
        """The namespace's policy (annotation), else the operator default; cached briefly."""
        cached = self._policies.get(namespace)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        default = self.settings.custom_code_policy == "deny"
        annotation = await self.kube.namespaces.annotation(
            namespace, constants.CUSTOM_CODE_ANNOTATION
        )
        deny = default if annotation is None else annotation.strip().lower() == "deny"
        self._policies[namespace] = (time.monotonic() + 10.0, deny)
        return deny


async def reconcile_ref(ctx: UnitsContext, ref: ObjectRef) -> None:
    """Reconcile the current version of a unit (retries start here)."""
    await ctx.runner.reconcile_ref(ref)


async def reconcile(ctx: UnitsContext, body: dict[str, Any]) -> None:
    """One serialized pass for the unit; temporary failures are retried with backoff."""
    await ctx.runner.reconcile(body)


def forget(ctx: UnitsContext, body: dict[str, Any]) -> None:
    """The unit is gone: drop its lock, pending retries and own writes."""
    ref = ref_of(body)
    ctx.runner.forget(ref)
    with contextlib.suppress(ValueError):
        ctx.duplicates.forget_status(
            ref[0], DeploymentUnitSpec.model_validate(body.get("spec") or {})
        )


def _plan(ctx: UnitsContext, body: dict[str, Any]) -> _Plan | None:
    """What a pass over this version is to do; None when the unit is where it should be."""
    meta = body["metadata"]
    generation = int(meta.get("generation") or 0)
    spec = DeploymentUnitSpec.model_validate(body.get("spec") or {})
    raw_status = body.get("status") or {}
    status = DeploymentUnitStatus.model_validate(raw_status) if raw_status else None
    if status is not None and status.definitions:
        # kopf updated its indexes with this very object before the handler ran.
        tenant = spec.tenant_id or ""
        ctx.versions.seen(
            {(meta["namespace"], tenant, d.kind, d.key): d.version for d in status.definitions}
        )
    plan = _Plan(
        spec=spec,
        status=status,
        generation=generation,
        action=decide.decide_action(spec, status, generation),
        deleting=bool(meta.get("deletionTimestamp")),
        has_finalizer=constants.FINALIZER in (meta.get("finalizers") or []),
    )
    return None if plan.idle else plan


async def _pass(ctx: UnitsContext, body: dict[str, Any], plan: _Plan) -> None:
    """Finalize a unit being deleted; else observe, undeploy or deploy, writing the status once."""
    status, generation, action = plan.status, plan.generation, plan.action
    if plan.deleting:
        await _finalize(ctx, body, status, generation)
        return
    # The finalizer goes on while the pass works; the status is written only once it is on.
    finalizing = asyncio.ensure_future(
        ctx.kube.units.set_finalizer(metadata_of(body), present=True)
    )
    try:
        if action is decide.Action.NOTHING:
            return
        at = now()
        if action is decide.Action.OBSERVE:
            assert status is not None
            new = decide.observed_status(status, generation, at)
            await write_status(ctx, body, status, new, after=finalizing)
        elif action is decide.Action.UNDEPLOY:
            job = decide.next_job(JobOperation.UNDEPLOY, status, generation, at)
            new = decide.undeployed_status(status, job, generation, at)
            await _undeploy(ctx, body, status, new, job, generation, after=finalizing)
        else:
            await _deploy(ctx, body, plan, finalizing)
    finally:
        ctx.runner.remember(await finalizing)


#: The finalizer being set while a pass works; the status is written once it is on.
Finalizing = asyncio.Future[ObjectMeta | None]


async def _deploy(
    ctx: UnitsContext, body: dict[str, Any], plan: _Plan, finalizing: Finalizing
) -> None:
    """Deploy; a unit with duplicate filtering decides and writes alone among its name's units."""
    spec = plan.spec
    key = history_key(body["metadata"]["namespace"], spec)
    async with (
        ctx.duplicates.history_lock(key)
        if spec.enable_duplicate_filtering
        else contextlib.nullcontext()
    ):
        await _deploy_content(ctx, body, plan, finalizing)


async def _deploy_content(
    ctx: UnitsContext, body: dict[str, Any], plan: _Plan, finalizing: Finalizing
) -> None:
    spec, status, generation = plan.spec, plan.status, plan.generation
    meta = body["metadata"]
    namespace, uid = meta["namespace"], meta["uid"]
    at = now()
    job = decide.next_job(JobOperation.DEPLOY, status, generation, at)
    claims = sources.Claims(body, ctx.settings.snapshot_max_owners)
    content = await sources.collect(
        ctx.kube, ctx.http, str(ctx.settings.maven_repository), namespace, spec, ctx.limits, claims
    )
    if isinstance(content, decide.ContentProblem):
        await _problem(ctx, body, plan, job, content, finalizing)
        return
    analysis = decide.analyze(
        content,
        ctx.limits,
        deny_custom_code=await ctx.denies_custom_code(namespace),
        jbpm=":" in spec.deployment_id,
        # A bound unit's engine validates its content itself, in its own words (issue 19).
        validate=engines.binding(ctx.engines, namespace, spec, status).engine is None,
    )
    if isinstance(analysis, decide.ContentProblem):
        await _problem(ctx, body, plan, job, analysis, finalizing)
        return
    resources = decide.describe_resources(uid, content)
    history: list[decide.PreviousDeployment] = []
    if spec.enable_duplicate_filtering:
        # Many units share a history key (every unnamed one): scanning it only when asked
        # keeps a burst of units linear.
        history = [
            d
            for d in ctx.duplicates.history(history_key(namespace, spec))
            if d.deployment_id != spec.deployment_id
        ]
    outcome = decide.filter_duplicates(spec, resources, history)
    by_sha = {
        r.sha256: item.content
        for r, item in zip(resources, sorted(content, key=lambda c: c.name), strict=True)
    }
    names = await asyncio.gather(
        *(
            ctx.kube.snapshots.ensure(
                namespace,
                sha,
                data,
                body,
                max_owners=ctx.settings.snapshot_max_owners,
                grouped=True,
                seen=claims.seen.get(sha),
            )
            for sha, data in by_sha.items()
        )
    )
    resources = decide.describe_resources(uid, content, dict(zip(by_sha, names, strict=True)))
    # -- engine hook (issue 19): a bound unit's content goes to its engine, once per job.
    pushed = await engines.push(ctx.engines, body, spec, status, job, content)
    # -- end of engine hook
    chosen = [p for p in analysis if p.resource in outcome.deployed_names]
    tenant = spec.tenant_id or ""
    slots: dict[VersionSlot, tuple[str, str]] = {
        (namespace, tenant, p.kind, p.key): (p.kind, p.key) for p in chosen
    }
    async with ctx.versions.reserve(slots) as reservation:
        versions = {slots[slot]: version for slot, version in reservation.versions.items()}
        definitions = decide.assign_versions(chosen, versions, uid)
        new_status = decide.deployed_status(
            status,
            job,
            spec,
            resources,
            definitions,
            outcome.duplicate_of,
            generation,
            now_ms(),
        )
        if pushed is not None:  # engine hook (issue 19): what the engine answered
            new_status = pushed.status(new_status, status, job, spec, generation)
        try:
            await write_status(ctx, body, status, new_status, after=finalizing)
        except ApiError as error:
            # The same status is as large on every retry: a permanent failure, not a retry.
            if not error.too_large:
                raise
        else:
            if pushed is None:  # engine hook (issue 19): a bound unit holds the engine's versions
                reservation.commit()
            elif pushed.waiting is not None:
                raise RetryLater(pushed.waiting.message)
            return
    problem = decide.ContentProblem(
        f"the deployed status of {len(resources)} resources and {len(definitions)} definitions "
        "is larger than the API server stores in one object; split the deployment",
        temporary=False,
    )
    await _problem(ctx, body, plan, job, problem, finalizing)


async def _problem(
    ctx: UnitsContext,
    body: dict[str, Any],
    plan: _Plan,
    job: Any,
    problem: decide.ContentProblem,
    finalizing: Finalizing,
) -> None:
    spec, status, generation = plan.spec, plan.status, plan.generation
    at = now()
    if problem.temporary:
        waiting = decide.waiting_status(status, job, problem, generation, at)
        await write_status(ctx, body, status, waiting, after=finalizing)
        raise RetryLater(problem.message)
    failed = decide.failed_status(status, job, problem, spec, generation, at)
    await write_status(ctx, body, status, failed, after=finalizing)


async def _undeploy(
    ctx: UnitsContext,
    body: dict[str, Any],
    status: DeploymentUnitStatus | None,
    undeployed: DeploymentUnitStatus,
    job: Job,
    generation: int,
    *,
    after: Finalizing | None = None,
) -> ObjectMeta | None:
    """Write the undeployed status once the engine's deployment is gone (engine hook, issue
    19); None when the engine keeps it, after writing its refusal if there is one to show."""
    withdrawn = await engines.withdraw(ctx.engines, body, status, undeployed, job, generation)
    if withdrawn.retry is not None:
        raise RetryLater(withdrawn.retry)
    if withdrawn.refused:
        if withdrawn.status is not None:
            await write_status(ctx, body, status, withdrawn.status, after=after)
        return None
    return await write_status(ctx, body, status, withdrawn.status or undeployed, after=after)


async def _finalize(
    ctx: UnitsContext, body: dict[str, Any], status: DeploymentUnitStatus | None, generation: int
) -> None:
    """Deletion undeploys first, then lets the object go (snapshots follow by ownership)."""
    finalizers = body["metadata"].get("finalizers") or []
    if constants.FINALIZER not in finalizers:
        return
    if status is None or status.status is not DeploymentStatus.UNDEPLOYED:
        at = now()
        job = decide.next_job(JobOperation.UNDEPLOY, status, generation, at)
        undeployed = decide.undeployed_status(status, job, generation, at)
        written = await _undeploy(ctx, body, status, undeployed, job, generation)
        if written is None:
            return  # deletion waits while the engine keeps the deployment
        # The finalizer goes under the precondition of the version just written, not the one
        # the pass started from (that one always conflicts).
        body = at_version(body, written)
    try:
        await ctx.kube.units.set_finalizer(metadata_of(body), present=False)
    except ApiError as error:
        if not error.not_found:
            raise


async def write_status(
    ctx: UnitsContext,
    body: dict[str, Any],
    before: DeploymentUnitStatus | None,
    new: DeploymentUnitStatus,
    *,
    after: Finalizing | None = None,
) -> ObjectMeta:
    """Write the status; returns the written object's metadata."""
    meta = body["metadata"]
    if after is not None:
        await asyncio.shield(after)
    written = await ctx.kube.units.write_status(meta["namespace"], meta["name"], new)
    ctx.runner.remember(written)
    ctx.duplicates.wrote_status(
        meta["namespace"], DeploymentUnitSpec.model_validate(body.get("spec") or {}), new
    )
    change = decide.transition(before, new)
    if change is not None:
        # Events are for people; the pass does not wait for them.
        ctx.runner.spawn(ctx.kube.events.post(body, change.type, change.reason, change.message))
    return written


# -- engine hook (issue 19) ------------------------------------------------------------------


async def resync_with_engine(ctx: UnitsContext, ref: ObjectRef) -> None:
    """A deployed unit its engine lacks (never pushed, or vanished): pushed again from its
    snapshots under the unit's lock, its status written once, and an Event says so."""
    if ctx.engines is None:
        return
    async with ctx.runner.lock(ref):
        body = await ctx.kube.units.find_body(*ref)
        if body is None or body["metadata"].get("deletionTimestamp") or not body.get("status"):
            return
        spec = DeploymentUnitSpec.model_validate(body.get("spec") or {})
        status = DeploymentUnitStatus.model_validate(body["status"])
        if status.status is not DeploymentStatus.DEPLOYED:
            return
        found = await engines.resync_unit(
            ctx.engines, body, spec, status, status.observed_generation or 0
        )
        if found is None:
            return
        new, reason, why = found
        await write_status(ctx, body, status, new)
        ctx.runner.spawn(ctx.kube.events.post(body, "Normal", reason, why))
