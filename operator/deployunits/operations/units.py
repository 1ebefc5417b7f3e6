"""One reconcile pass of a DeploymentUnit: observe, decide (pure), store, allocate, write once."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deployunits import constants
from deployunits.content.digest import sha256_hex
from deployunits.content.maven import MavenHttp
from deployunits.k8s.errors import ApiError, ApiUnavailable
from deployunits.k8s.gateway import ApiServer
from deployunits.metrics import OperatorMetrics
from deployunits.models.conditions import now
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    JobOperation,
)
from deployunits.operations import engines, sources
from deployunits.operations.engines import EnginesContext
from deployunits.operations.retries import ObjectRef, RetryScheduler
from deployunits.operations.versions import VersionAllocator, VersionSlot
from deployunits.reconcile import deploymentunit as decide
from deployunits.settings import OperatorSettings

logger = logging.getLogger(__name__)
HistoryKey = tuple[str, str, str, str]  # (namespace, name, source, tenant)
#: Camunda compares deployments without a source as if it were this one.
DEFAULT_SOURCE = "process application"


class RetryLater(Exception):
    """The pass could not finish for a reason that time may fix."""


@dataclass
class UnitsContext:
    """Everything a pass needs from the operator's lifetime."""

    settings: OperatorSettings
    kube: ApiServer
    http: MavenHttp
    retries: RetryScheduler | None = None
    #: Bounds the passes that run at once (they call the API server and Maven repositories).
    passes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(32))
    #: Events waiting for a pass slot hold their objects; beyond this many, further objects are
    #: kept as references and read again when the backlog has shrunk (bounded memory in a
    #: burst of thousands of units).
    max_waiting: int = 1000
    waiting: int = 0
    deferred: dict[ObjectRef, None] = field(default_factory=dict)
    locks: dict[ObjectRef, asyncio.Lock] = field(default_factory=dict)
    #: The newest resourceVersion this process wrote per object: older events are stale.
    written: dict[ObjectRef, int] = field(default_factory=dict)
    versions: VersionAllocator = field(init=False)
    _policies: dict[str, tuple[float, bool]] = field(default_factory=dict)
    metrics: OperatorMetrics | None = None
    #: Process engines that bound units are pushed to (issue 19); None: every unit stored only.
    engines: EnginesContext | None = None
    _states_index: Mapping[tuple[str, ...], Iterable[object]] | None = None
    _versions_index: Mapping[VersionSlot, Iterable[int]] | None = None
    _history_index: Mapping[HistoryKey, Iterable[decide.PreviousDeployment]] | None = None
    #: Held while a unit with duplicate filtering decides and writes: two uploads of one name
    #: deciding at once would otherwise both find nothing to filter and both deploy.
    _history_locks: dict[HistoryKey, asyncio.Lock] = field(default_factory=dict)
    #: What this process last wrote per unit (None: not a filtering candidate) and when, ahead
    #: of the watch-fed index, which lags behind the writes by seconds at most.
    _history_written: dict[
        HistoryKey, dict[str, tuple[float, decide.PreviousDeployment | None]]
    ] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.versions = VersionAllocator(self.latest_version)
        self._background: set[asyncio.Task[None]] = set()

    def backlog_full(self) -> bool:
        return self.waiting >= self.max_waiting

    def defer(self, ref: ObjectRef) -> None:
        """Reconcile the object later, from a fresh read, once the backlog has room."""
        first = not self.deferred
        self.deferred[ref] = None
        if first:
            self.spawn(_drain_deferred(self))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work in the background, kept referenced until it is done."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background work (at shutdown); deferred objects are left to the next start,
        whose initial listing passes over every object anyway."""
        self.deferred.clear()
        await asyncio.gather(*self._background, return_exceptions=True)

    def bind_indexes(
        self,
        versions: Mapping[VersionSlot, Iterable[int]],
        history: Mapping[HistoryKey, Iterable[decide.PreviousDeployment]],
    ) -> None:
        """kopf's watch-fed indexes (live views; populated before any handler runs)."""
        self._versions_index, self._history_index = versions, history

    def bind_states(self, states: Mapping[tuple[str, ...], Iterable[object]]) -> None:
        """kopf's index of units by status (for the metrics)."""
        self._states_index = states

    def states(self) -> Mapping[tuple[str, ...], Iterable[object]] | None:
        return self._states_index

    def latest_version(self, slot: VersionSlot) -> int:
        """The highest version any unit's status holds for the slot."""
        index = self._versions_index
        return max(index.get(slot) or (), default=0) if index is not None else 0

    def history(self, key: HistoryKey) -> list[decide.PreviousDeployment]:
        """Deployed units with this (namespace, name, source, tenant).

        The index as the watch delivered it, corrected by the statuses this process wrote since.
        """
        index = self._history_index
        indexed = (index.get(key) or ()) if index is not None else ()
        found = {d.deployment_id: d for d in indexed}
        for deployment_id, (_, written) in self._history_written.get(key, {}).items():
            if written is None:
                found.pop(deployment_id, None)
            else:
                found[deployment_id] = written
        return list(found.values())

    def history_lock(self, key: HistoryKey) -> asyncio.Lock:
        return self._history_locks.setdefault(key, asyncio.Lock())

    def wrote_status(
        self, namespace: str, spec: DeploymentUnitSpec, status: DeploymentUnitStatus
    ) -> None:
        """Remember a status write for duplicate filtering until the index has long caught up."""
        deployment_id = spec.deployment_id
        entries = self._history_written.setdefault(history_key(namespace, spec), {})
        written_at = time.monotonic()
        # Entries stay in the order they were written (a rewrite moves to the end), so the ones
        # the index has certainly caught up with are at the front: bounded memory in a burst of
        # thousands of units sharing one key (every unnamed unit), at constant cost per write.
        entries.pop(deployment_id, None)
        while entries:
            oldest = next(iter(entries))
            if written_at - entries[oldest][0] <= _INDEX_LAG:
                break
            del entries[oldest]
        previous = (
            decide.previous_deployment(
                deployment_id,
                status.deployment_time,
                ((r.name, r.sha256) for r in status.resources),
            )
            if decide.counts_as_previous(status.status, status.duplicate_of)
            else None
        )
        entries[deployment_id] = (written_at, previous)

    def forget_status(self, namespace: str, spec: DeploymentUnitSpec) -> None:
        key = history_key(namespace, spec)
        entries = self._history_written.get(key)
        if entries is not None:
            entries.pop(spec.deployment_id, None)
            if not entries:
                del self._history_written[key]

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


#: Seconds after which the watch-fed index has certainly seen a status this process wrote.
_INDEX_LAG = 300.0


def history_key(namespace: str, spec: DeploymentUnitSpec) -> HistoryKey:
    """What Camunda's duplicate filtering compares deployments by."""
    return (namespace, spec.name or "", spec.source or DEFAULT_SOURCE, spec.tenant_id or "")


def _ref(body: dict[str, Any]) -> ObjectRef:
    return body["metadata"]["namespace"], body["metadata"]["name"]


async def _drain_deferred(ctx: UnitsContext) -> None:
    """Feed deferred objects back while the backlog is below half its bound."""
    while ctx.deferred:
        if ctx.waiting >= ctx.max_waiting // 2:
            await asyncio.sleep(0.05)
            continue
        ref = next(iter(ctx.deferred))
        del ctx.deferred[ref]
        ctx.spawn(_reconcile_deferred(ctx, ref))
        await asyncio.sleep(0)


async def _reconcile_deferred(ctx: UnitsContext, ref: ObjectRef) -> None:
    try:
        await reconcile_ref(ctx, ref)
    except (ApiUnavailable, ApiError, RetryLater) as error:
        if isinstance(error, ApiError) and not error.retryable:
            logger.exception("Deferred pass of %s/%s failed.", *ref)
        if ctx.retries is not None:
            ctx.retries.schedule(ref)
    except Exception:
        logger.exception("Deferred pass of %s/%s failed.", *ref)
        if ctx.retries is not None:
            ctx.retries.schedule(ref)


async def reconcile_ref(ctx: UnitsContext, ref: ObjectRef) -> None:
    """Reconcile the current version of an object (retries start here)."""
    body = await ctx.kube.units.find(*ref)
    if body is not None:
        await reconcile(ctx, body)


async def reconcile(ctx: UnitsContext, body: dict[str, Any]) -> None:
    """One serialized pass for the object; temporary failures are retried with backoff."""
    ref = _ref(body)
    lock = ctx.locks.setdefault(ref, asyncio.Lock())
    async with lock:
        if _stale(ctx, ref, body):
            # The watch will deliver the version this process wrote; acting on an older one
            # would repeat work already done.
            return
        plan = _plan(ctx, body)
        if plan.idle:
            # Most events are the operator's own writes coming back: nothing to do, and no
            # need to queue for a pass slot (holding the body) to find that out.
            if ctx.retries is not None:
                ctx.retries.succeeded(ref)
            return
        if ctx.backlog_full():
            ctx.defer(ref)
            return
        started = time.monotonic()
        result = "ok"
        try:
            ctx.waiting += 1
            try:
                await ctx.passes.acquire()
            finally:
                ctx.waiting -= 1
            try:
                await _pass(ctx, body, plan)
            finally:
                ctx.passes.release()
        except (RetryLater, ApiUnavailable) as error:
            result = "retry"
            _retry(ctx, ref, str(error))
            return
        except ApiError as error:
            if error.status in (409, 429) or error.status >= 500:
                result = "retry"
                _retry(ctx, ref, str(error))
                return
            result = "error"
            raise
        except Exception:
            result = "error"
            raise
        finally:
            _observe(ctx.metrics, "DeploymentUnit", result, time.monotonic() - started)
    if ctx.retries is not None:
        ctx.retries.succeeded(ref)


def _observe(metrics: OperatorMetrics | None, kind: str, result: str, seconds: float) -> None:
    if metrics is None:
        return
    metrics.reconciles.labels(kind, result).inc()
    metrics.duration.labels(kind).observe(seconds)
    if result == "error":
        metrics.errors.labels(kind).inc()


def _resource_version(body: dict[str, Any]) -> int | None:
    value = str(body["metadata"].get("resourceVersion", ""))
    return int(value) if value.isdigit() else None


def _stale(ctx: UnitsContext, ref: ObjectRef, body: dict[str, Any]) -> bool:
    seen, written = _resource_version(body), ctx.written.get(ref)
    return seen is not None and written is not None and seen < written


def _remember(ctx: UnitsContext, written: dict[str, Any] | None) -> None:
    if written:
        version = _resource_version(written)
        if version is not None:
            ref = _ref(written)
            ctx.written[ref] = max(version, ctx.written.get(ref, 0))


def _retry(ctx: UnitsContext, ref: ObjectRef, why: str) -> None:
    if ctx.retries is None:
        raise RetryLater(why)
    delay = ctx.retries.schedule(ref)
    logger.info("Retrying %s/%s in %.0fs: %s", *ref, delay, why)


def forget(ctx: UnitsContext, body: dict[str, Any]) -> None:
    """The object is gone: drop its lock and pending retries."""
    ref = _ref(body)
    ctx.locks.pop(ref, None)
    ctx.written.pop(ref, None)
    with contextlib.suppress(ValueError):
        ctx.forget_status(ref[0], DeploymentUnitSpec.model_validate(body.get("spec") or {}))
    if ctx.retries is not None:
        ctx.retries.succeeded(ref)


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


def _plan(ctx: UnitsContext, body: dict[str, Any]) -> _Plan:
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
    return _Plan(
        spec=spec,
        status=status,
        generation=generation,
        action=decide.decide_action(spec, status, generation),
        deleting=bool(meta.get("deletionTimestamp")),
        has_finalizer=constants.FINALIZER in (meta.get("finalizers") or []),
    )


async def _pass(ctx: UnitsContext, body: dict[str, Any], plan: _Plan) -> None:
    spec, status, generation, action = plan.spec, plan.status, plan.generation, plan.action
    if plan.deleting:
        await _finalize(ctx, body, status, generation)
        return
    # The finalizer goes on while the pass works; the status is written only once it is on.
    finalizing = asyncio.ensure_future(ctx.kube.units.set_finalizer(body, present=True))
    try:
        if action is decide.Action.NOTHING:
            return
        at = now()
        if action is decide.Action.OBSERVE:
            assert status is not None
            new = decide.observed_status(status, generation, at)
            await _write(ctx, body, status, new, after=finalizing)
        elif action is decide.Action.UNDEPLOY:
            job = decide.next_job(JobOperation.UNDEPLOY, status, generation, at)
            new = decide.undeployed_status(status, job, generation, at)
            # -- engine hook (issue 19): the engine's deployment goes first.
            withdrawn = await engines.withdraw(
                ctx.engines, _ref(body), status, new, job, generation
            )
            if withdrawn.retry is not None:
                raise RetryLater(withdrawn.retry)
            if withdrawn.refused and withdrawn.status is None:
                return
            new = withdrawn.status or new
            # -- end of engine hook
            await _write(ctx, body, status, new, after=finalizing)
        else:
            await _deploy(ctx, body, spec, status, generation, finalizing)
    finally:
        _remember(ctx, await finalizing)


async def _deploy(
    ctx: UnitsContext,
    body: dict[str, Any],
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus | None,
    generation: int,
    finalizing: "asyncio.Future[dict[str, Any] | None]",
) -> None:
    """Deploy; a unit with duplicate filtering decides and writes alone among its name's units."""
    key = history_key(body["metadata"]["namespace"], spec)
    async with (
        ctx.history_lock(key) if spec.enable_duplicate_filtering else contextlib.nullcontext()
    ):
        await _deploy_content(ctx, body, spec, status, generation, finalizing)


async def _deploy_content(
    ctx: UnitsContext,
    body: dict[str, Any],
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus | None,
    generation: int,
    finalizing: "asyncio.Future[dict[str, Any] | None]",
) -> None:
    meta = body["metadata"]
    namespace, uid = meta["namespace"], meta["uid"]
    at = now()
    job = decide.next_job(JobOperation.DEPLOY, status, generation, at)
    content = await sources.collect(
        ctx.kube, ctx.http, str(ctx.settings.maven_repository), namespace, spec, ctx.limits
    )
    if isinstance(content, decide.ContentProblem):
        await _problem(ctx, body, spec, status, job, content, generation, finalizing)
        return
    analysis = decide.analyze(
        content,
        ctx.limits,
        deny_custom_code=await ctx.denies_custom_code(namespace),
        jbpm=":" in spec.deployment_id,
    )
    if isinstance(analysis, decide.ContentProblem):
        await _problem(ctx, body, spec, status, job, analysis, generation, finalizing)
        return
    resources = decide.describe_resources(uid, content)
    history: list[decide.PreviousDeployment] = []
    if spec.enable_duplicate_filtering:
        # Many units share a history key (every unnamed one): scanning it only when asked
        # keeps a burst of units linear.
        history = [
            d
            for d in ctx.history(history_key(namespace, spec))
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
            now(),
        )
        if pushed is not None:  # engine hook (issue 19): what the engine answered
            new_status = pushed.status(new_status, status, job, spec, generation)
        try:
            await _write(ctx, body, status, new_status, after=finalizing)
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
    await _problem(ctx, body, spec, status, job, problem, generation, finalizing)


async def _problem(
    ctx: UnitsContext,
    body: dict[str, Any],
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus | None,
    job: Any,
    problem: decide.ContentProblem,
    generation: int,
    finalizing: "asyncio.Future[dict[str, Any] | None]",
) -> None:
    at = now()
    if problem.temporary:
        waiting = decide.waiting_status(status, job, problem, generation, at)
        await _write(ctx, body, status, waiting, after=finalizing)
        raise RetryLater(problem.message)
    failed = decide.failed_status(status, job, problem, spec, generation, at)
    await _write(ctx, body, status, failed, after=finalizing)


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
        # -- engine hook (issue 19): deletion waits while the engine keeps the deployment.
        withdrawn = await engines.withdraw(
            ctx.engines, _ref(body), status, undeployed, job, generation
        )
        if withdrawn.retry is not None:
            raise RetryLater(withdrawn.retry)
        if withdrawn.refused:
            if withdrawn.status is not None:
                await _write(ctx, body, status, withdrawn.status)
            return
        undeployed = withdrawn.status or undeployed
        # -- end of engine hook
        written = await _write(ctx, body, status, undeployed)
        # The finalizer goes under the precondition of the version just written, not the one
        # the pass started from (that one always conflicts).
        version = written["metadata"]["resourceVersion"]
        body = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
    try:
        await ctx.kube.units.set_finalizer(body, present=False)
    except ApiError as error:
        if not error.not_found:
            raise


async def _write(
    ctx: UnitsContext,
    body: dict[str, Any],
    before: DeploymentUnitStatus | None,
    new: DeploymentUnitStatus,
    *,
    after: "asyncio.Future[dict[str, Any] | None] | None" = None,
) -> dict[str, Any]:
    """Write the status; returns the object as written."""
    meta = body["metadata"]
    if after is not None:
        await asyncio.shield(after)
    written = await ctx.kube.units.write_status(meta["namespace"], meta["name"], new)
    _remember(ctx, written)
    ctx.wrote_status(
        meta["namespace"], DeploymentUnitSpec.model_validate(body.get("spec") or {}), new
    )
    change = decide.transition(before, new)
    if change is not None:
        # Events are for people; the pass does not wait for them.
        ctx.spawn(ctx.kube.events.post(body, change.type, change.reason, change.message))
    return written


async def check_drift(
    ctx: UnitsContext, namespace: str, unit_name: str, config_map: dict[str, Any]
) -> None:
    """Compare a source ConfigMap with the unit's snapshot and record SourceDrifted."""
    ref = (namespace, unit_name)
    lock = ctx.locks.setdefault(ref, asyncio.Lock())
    async with lock:
        body = await ctx.kube.units.find(namespace, unit_name)
        if body is None:
            return
        spec = DeploymentUnitSpec.model_validate(body.get("spec") or {})
        raw_status = body.get("status") or {}
        if not raw_status or body["metadata"].get("deletionTimestamp"):
            return
        status = DeploymentUnitStatus.model_validate(raw_status)
        if status.status is not DeploymentStatus.DEPLOYED:
            return
        stored = {r.name: r.sha256 for r in status.resources}
        changed: list[str] = []
        name = config_map["metadata"]["name"]
        for source in spec.resources.config_maps or []:
            if source.name != name:
                continue
            current = sources.select_entries(source, config_map)
            if isinstance(current, decide.ContentProblem):
                changed += [n for n in stored if source.keys is None or n in source.keys]
                continue
            now_by_name = {c.name: sha256_hex(c.content) for c in current}
            wanted = source.keys if source.keys is not None else list(now_by_name)
            taken = [n for n in stored if source.keys is None or n in source.keys]
            changed += [n for n in set(wanted) | set(taken) if now_by_name.get(n) != stored.get(n)]
        new_status = decide.drift_status(
            status, sorted(set(changed)), int(body["metadata"].get("generation") or 0), now()
        )
        if new_status is not None:
            await _write(ctx, body, status, new_status)


# -- engine hook (issue 19) ------------------------------------------------------------------


async def resync_with_engine(ctx: UnitsContext, ref: ObjectRef) -> None:
    """A deployed unit its engine lacks (never pushed, or vanished): pushed again from its
    snapshots under the unit's lock, its status written once, and an Event says so."""
    if ctx.engines is None:
        return
    lock = ctx.locks.setdefault(ref, asyncio.Lock())
    async with lock:
        body = await ctx.kube.units.find(*ref)
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
        await _write(ctx, body, status, new)
        ctx.spawn(ctx.kube.events.post(body, "Normal", reason, why))
