"""Writes admitted jobs into their DeploymentUnits, then has their records removed.

Each replica writes the jobs it admitted once requests pause (at most HOLD_SECONDS after their
admission); a record left unwritten longer than a grace period (its replica stopped) is taken
over by any replica. Writing is idempotent: a create uses the name derived from the id (a second
create of it fails), a patch carries the unit's resourceVersion as a precondition, and the job's
identifier is stored in an annotation, so a job found already written is only removed from the
queue. A job whose unit was changed by someone else after admission (another generation, another
unit of that name) is superseded: the record goes and the change stands.
"""

import asyncio
import contextlib
import logging
import time

from deployunits import constants
from deployunits.api.jbpm import ids
from deployunits.api.jbpm.jobs import Record
from deployunits.api.jbpm.queue import JobQueue
from deployunits.k8s.errors import ApiError, ApiUnavailable
from deployunits.k8s.gateway import ApiServer
from deployunits.k8s.meta import ObjectMeta
from deployunits.models.deploymentunit import (
    DeploymentUnit,
    DeploymentUnitSpec,
    DesiredState,
    JobOperation,
    MavenArtifact,
    ResourceSources,
)

logger = logging.getLogger(__name__)

#: Seconds after which any replica writes a record its own replica has not removed.
ORPHAN_AFTER_SECONDS = 10.0
#: Seconds a job waits at most after its admission for a burst of requests to pass.
HOLD_SECONDS = 2.0
_SCAN_SECONDS = 2.0
_PATCH_ATTEMPTS = 10


class _Transient(Exception):
    """Worth trying again later (API server unavailable, throttled, failing)."""


def _job_of(meta: ObjectMeta) -> str | None:
    return meta.annotations.get(constants.JBPM_JOB_ANNOTATION)


def _meta(unit: DeploymentUnit) -> ObjectMeta:
    return ObjectMeta.model_validate(unit.metadata)


def new_unit(record: Record, repository: str | None) -> DeploymentUnit:
    """The unit a deploy of an unknown id creates: the kjar the id names."""
    parts = ids.parse(record.deployment_id)
    maven = MavenArtifact.unchecked(
        group_id=parts.group_id,
        artifact_id=parts.artifact_id,
        version=parts.version,
        repository=repository or None,
    )
    spec = DeploymentUnitSpec.unchecked(
        deployment_id=record.deployment_id,
        resources=ResourceSources.unchecked(maven=maven),
        state=DesiredState.DEPLOYED,
        strategy=record.strategy,
        merge_mode=record.merge_mode,
    )
    metadata: dict[str, object] = {
        "name": record.unit,
        "labels": {constants.CREATED_BY_LABEL: constants.CREATED_BY},
        "annotations": _job_annotations(record),
    }
    return DeploymentUnit(metadata=metadata, spec=spec)


def _job_annotations(record: Record) -> dict[str, str]:
    return {constants.JBPM_JOB_ANNOTATION: str(record.seq)}


class Materializer:
    """Applies records to units with bounded concurrency, and takes over orphaned records."""

    def __init__(
        self,
        kube: ApiServer,
        queue: JobQueue,
        *,
        namespace: str,
        repository: str | None,
        concurrency: int = 32,
        hold_seconds: float = HOLD_SECONDS,
    ) -> None:
        self._kube = kube
        self._queue = queue
        self.namespace = namespace
        self.repository = repository
        self._gate = asyncio.Semaphore(concurrency)
        self._hold_seconds = hold_seconds
        self._inflight: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._scanner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._scanner = asyncio.create_task(self._scan(), name="jbpm-job-scan")

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._scanner] if self._scanner else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._scanner = None

    def submit(self, record: Record) -> None:
        """Write a record in the background (once per record at a time in this replica)."""
        key = (record.unit, record.seq)
        if key in self._inflight:
            return
        self._inflight.add(key)
        task = asyncio.create_task(self._materialize(record), name=f"jbpm-job-{record.seq}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _scan(self) -> None:
        """Every few seconds: read the ledger and write records other replicas left behind."""
        while True:
            await asyncio.sleep(_SCAN_SECONDS)
            try:
                ledger = await self._queue.refresh(older_than=_SCAN_SECONDS)
            except (ApiError, ApiUnavailable, ValueError) as error:
                logger.warning("could not read the job queue: %s", error)
                continue
            cutoff = time.time() - ORPHAN_AFTER_SECONDS
            for record in list(ledger.records.values()):
                if record.submitted <= cutoff:
                    self.submit(record)

    async def _materialize(self, record: Record) -> None:
        backoff = 0.2
        try:
            # Admission time is wall-clock (records outlive processes): capped, so a clock
            # stepped back cannot hold a job for longer.
            held = record.submitted + self._hold_seconds - time.time()
            await self._queue.wait_calm(min(held, self._hold_seconds))
            while True:
                try:
                    async with self._gate:
                        written = await self._apply(record)
                    self._queue.remove(record, written)
                    return
                except _Transient as error:
                    logger.info("job %s for %s: %s; retrying", record.seq, record.unit, error)
                except Exception:  # a bug must not lose the job: log it and try again later
                    logger.exception("job %s for %s failed; retrying", record.seq, record.unit)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        finally:
            self._inflight.discard((record.unit, record.seq))

    async def _apply(self, record: Record) -> int:
        """Write the record; the resourceVersion written (0 when the job was superseded)."""
        try:
            if record.action == "create":
                return await self._create(record)
            return await self._patch(record)
        except ApiUnavailable as error:
            raise _Transient(str(error)) from error
        except ApiError as error:
            if error.status in (409, 429) or error.status >= 500:
                raise _Transient(str(error)) from error
            logger.error(
                "job %s (%s of %s) refused by the API server, dropped: %s",
                record.seq,
                record.operation.value,
                record.deployment_id,
                error,
            )
            return 0

    async def _create(self, record: Record) -> int:
        try:
            created = await self._kube.units.create(
                self.namespace, new_unit(record, self.repository)
            )
            return created.version
        except ApiError as error:
            if not error.conflict:
                raise
        existing = _meta(await self._kube.units.get(self.namespace, record.unit))
        if _job_of(existing) == str(record.seq):
            return existing.version
        logger.warning(
            "job %s: unit %s was created by someone else first; the job is superseded",
            record.seq,
            record.unit,
        )
        return 0

    async def _patch(self, record: Record) -> int:
        """Patch spec.state; a retry goes through Undeployed first (two generations)."""
        version = record.resource_version
        ours = False
        for _ in range(_PATCH_ATTEMPTS):
            step_one = record.action == "retry" and not ours
            if step_one:
                state = DesiredState.UNDEPLOYED
            else:
                state = (
                    DesiredState.DEPLOYED
                    if record.operation is JobOperation.DEPLOY
                    else DesiredState.UNDEPLOYED
                )
            try:
                final = not step_one
                patched = await self._kube.units.patch_state(
                    self.namespace,
                    record.unit,
                    state,
                    resource_version=version,
                    annotations=_job_annotations(record),
                    strategy=record.strategy if final else None,
                    merge_mode=record.merge_mode if final else None,
                )
            except ApiError as error:
                if error.not_found:
                    logger.warning("job %s: unit %s is gone; dropped", record.seq, record.unit)
                    return 0
                if not error.conflict:
                    raise
                current = _meta(await self._kube.units.get(self.namespace, record.unit))
                outcome = self._reconsider(record, current)
                if isinstance(outcome, int):
                    return outcome
                ours, version = outcome
                continue
            if step_one:
                ours, version = True, patched.version
                continue
            return patched.version
        raise _Transient(f"unit {record.unit} kept changing")

    @staticmethod
    def _reconsider(record: Record, current: ObjectMeta) -> int | tuple[bool, int]:
        """After a conflict: done (its resourceVersion, or 0 if superseded), or how to go on."""
        generation = current.generation or 0
        mine = _job_of(current) == str(record.seq)
        if mine and generation >= record.expected_generation:
            return current.version
        if mine and record.action == "retry" and generation == record.generation + 1:
            return True, current.version
        if generation != record.generation:
            logger.warning(
                "job %s: unit %s changed since the job was admitted; the job is superseded",
                record.seq,
                record.unit,
            )
            return 0
        return False, current.version
