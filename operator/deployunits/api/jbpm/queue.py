"""The jBPM job queue, kept in the API server so that every shim replica sees the same one.

The queue is a ConfigMap (the ledger) holding the records of admitted jobs not yet written into
their units (one JSON object under one key), a sequence counter (the jobs' identifiers) and a
watermark: the newest unit resourceVersion written by a job whose record was removed. Every
admission is a write of the ledger with a resourceVersion precondition, so two replicas can
never both take the last free place of the queue or both admit the same job; the write that
loses is evaluated again against the ledger that won.

The pending jobs counted against the limit are the units whose job is pending in the watch-fed
cache plus the records not yet visible there. Before counting, the cache is brought up to the
ledger's watermark, so a job whose record was just removed is already pending in the cache.
Units changed with kubectl are counted once the cache shows them: a kubectl change made while a
replica decides is the one thing the count can miss.

Concurrent requests of one replica share one ledger write (group commit); a refusal needs no
write, it is decided on the ledger as last read or written (re-read when older than a moment).
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deployunits.api.cache import UnitCache
from deployunits.api.jbpm import ids, jobs
from deployunits.api.jbpm.index import JbpmIndex
from deployunits.api.jbpm.jobs import Admit, Record, Refuse, Request, UnitState
from deployunits.api.jbpm.wire import DeploymentJobResult
from deployunits.k8s.errors import JSON, ApiError
from deployunits.k8s.gateway import ApiServer
from deployunits.k8s.ledger import LedgerData

logger = logging.getLogger(__name__)

LEDGER_NAME = "deployunits-jbpm-jobs"
_SEQ_KEY = "seq"
_WATERMARK_KEY = "materialized-rv"
#: All records in one key: the API server tracks field ownership per key, and with a key per
#: record every admission paid for all of them (commits slowed as the ledger grew).
_RECORDS_KEY = "jobs"
#: Earlier shims stored a key per record; they are read, and moved into _RECORDS_KEY on write.
_LEGACY_RECORD_PREFIX = "job."
#: Records the ledger may hold at once (a ConfigMap holds at most 1 MiB); beyond, the queue is
#: full whatever the limit says.
MAX_RECORDS = 1500
#: A refusal is decided on a ledger at most this old (seconds); older ones are read again.
_FRESH_SECONDS = 2.0
_COMMIT_ATTEMPTS = 20
_SYNC_SECONDS = 5.0
#: Removals wait this long for company (seconds): a written record no longer counts anyway,
#: so they only keep the ledger small and need not cost a write each.
_REMOVAL_DELAY_SECONDS = 0.5
#: Requests count as a burst while they arrive less than this apart (seconds).
_CALM_GAP_SECONDS = 0.05
#: After a write that answered many requests, wait this long for them to come back (seconds).
_LINGER_SECONDS = 0.003


class QueueBusy(Exception):
    """The ledger kept changing under this replica's writes; the client may retry."""


class _Conflict(Exception):
    """The ledger changed since it was read (HTTP 409)."""


@dataclass
class Ledger:
    """One version of the ledger as read or written."""

    resource_version: str | None
    seq: int = 0
    watermark: int = 0
    records: dict[str, Record] = field(default_factory=dict)
    read_at: float = field(default_factory=time.monotonic)
    #: Keys of an earlier shim's per-record format still in the ConfigMap.
    legacy_keys: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, obj: JSON) -> "Ledger":
        """The ledger of its ConfigMap as the API server sends it."""
        version = str(obj.get("metadata", {}).get("resourceVersion") or "") or None
        return cls.of(LedgerData(obj.get("data") or {}, version))

    @classmethod
    def of(cls, found: LedgerData) -> "Ledger":
        """The ledger of its ConfigMap as the ledger store reads it."""
        data = found.data
        records: dict[str, Record] = {}
        legacy = [key for key in data if key.startswith(_LEGACY_RECORD_PREFIX)]
        for key in legacy:
            _add_record(records, key.removeprefix(_LEGACY_RECORD_PREFIX), data[key])
        try:
            stored = json.loads(data.get(_RECORDS_KEY) or "{}")
            if not isinstance(stored, dict):
                raise ValueError("not an object")
        except ValueError as error:
            logger.warning("ignoring malformed job records: %s", error)
            stored = {}
        for unit, item in stored.items():
            _add_record(records, unit, item)
        return cls(
            resource_version=found.resource_version,
            seq=_int(data.get(_SEQ_KEY)),
            watermark=_int(data.get(_WATERMARK_KEY)),
            records=records,
            legacy_keys=frozenset(legacy),
        )

    def data(self) -> dict[str, str | None]:
        """The ConfigMap data of this version (None: a key to remove)."""
        data: dict[str, str | None] = {key: None for key in self.legacy_keys}
        data[_SEQ_KEY] = str(self.seq)
        data[_WATERMARK_KEY] = str(self.watermark)
        # Records keep their encoding, so a commit costs a join, not an encoding of each.
        items = (f"{json.dumps(name)}:{record.encoded}" for name, record in self.records.items())
        data[_RECORDS_KEY] = "{" + ",".join(items) + "}"
        return data

    @property
    def version(self) -> int:
        return _int(self.resource_version)


def _add_record(records: dict[str, Record], unit: str, stored: object) -> None:
    try:
        records[unit] = Record.decode(unit, stored)
    except (ValueError, TypeError) as error:
        logger.warning("ignoring malformed job record of %s: %s", unit, error)


def _int(text: object) -> int:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return 0


@dataclass
class _Proposal:
    request: Request
    future: "asyncio.Future[DeploymentJobResult]"


@dataclass(frozen=True)
class _Removal:
    unit: str
    seq: int
    resource_version: int


@dataclass
class _Evaluation:
    ledger: Ledger
    #: Whether the ledger differs from the version it was evaluated on (a write is due).
    changed: bool
    results: list[DeploymentJobResult]
    admitted: list[Record]


class JobQueue:
    """Admits jobs through the ledger and removes the records the materializer has written."""

    def __init__(
        self,
        kube: ApiServer,
        units: UnitCache,
        index: JbpmIndex,
        *,
        namespace: str,
        limit: int,
        replica: str,
        on_admitted: Callable[[Record], None],
    ) -> None:
        self._store = kube.ledger(namespace, LEDGER_NAME)
        self._units = units
        self._index = index
        self.namespace = namespace
        self.limit = limit
        self.replica = replica
        self._on_admitted = on_admitted
        self._ledger: Ledger | None = None
        self._proposals: list[_Proposal] = []
        self._removals: list[_Removal] = []
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._removals_since: float | None = None
        #: Requests waiting for an answer, and the calm after them: writers of units stand back
        #: while requests keep arriving (see wait_calm).
        self._active = 0
        self._arrived = asyncio.Event()
        self._calm = asyncio.Event()
        self._calm.set()
        self._task: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._last_batch = 0
        self._last_commit = 0.0

    # Life cycle.

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="jbpm-job-queue")
        self._keeper = asyncio.create_task(self._keep_calm(), name="jbpm-job-queue-calm")

    async def stop(self) -> None:
        for task in (self._task, self._keeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._keeper = None
        for proposal in self._proposals:
            if not proposal.future.done():
                proposal.future.cancel()

    # Reads.

    @property
    def ledger(self) -> Ledger | None:
        return self._ledger

    def state(self, deployment_id: str) -> UnitState:
        """The deployment as this replica knows it: cached unit plus its last seen record."""
        unit = self._index.unit_for(deployment_id)
        name = unit.name if unit is not None else ids.unit_name(deployment_id)
        record = self._ledger.records.get(name) if self._ledger is not None else None
        return jobs.state_of(deployment_id, unit, record)

    async def refresh(self, older_than: float) -> Ledger:
        """The ledger, read again if the last view is older than `older_than` seconds."""
        ledger = self._ledger
        if ledger is None or time.monotonic() - ledger.read_at > older_than:
            fetched = await self._fetch()
            current = self._ledger
            if current is None or fetched.version >= current.version:
                self._ledger = fetched
            ledger = self._ledger
            assert ledger is not None
        return ledger

    # Writes.

    async def submit(self, request: Request) -> DeploymentJobResult:
        """Admit or refuse a job; admitted jobs are stored in the ledger before this returns."""
        future: asyncio.Future[DeploymentJobResult] = asyncio.get_running_loop().create_future()
        self._proposals.append(_Proposal(request, future))
        self._wake.set()
        self._urgent.set()
        self._active += 1
        self._arrived.set()
        self._calm.clear()
        try:
            return await future
        finally:
            self._active -= 1

    async def wait_calm(self, at_most: float) -> None:
        """Wait until requests stop arriving for a moment, at most `at_most` seconds.

        Admissions answer clients; writing admitted jobs into units can wait, and keeping those
        writes (and the operator's work they start) off the API server during a burst of
        requests keeps the 202s fast. The bound keeps a steady stream of requests from holding
        its jobs back for longer.
        """
        if at_most > 0 and not self._calm.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(at_most):
                    await self._calm.wait()

    async def _keep_calm(self) -> None:
        while True:
            await self._arrived.wait()
            while True:
                self._arrived.clear()
                await asyncio.sleep(_CALM_GAP_SECONDS)
                if not self._active and not self._arrived.is_set():
                    break
            self._calm.set()

    def remove(self, record: Record, resource_version: int) -> None:
        """Drop a record the materializer has written (or found obsolete), in a later write."""
        self._removals.append(_Removal(record.unit, record.seq, resource_version))
        if self._removals_since is None:
            self._removals_since = time.monotonic()
        self._wake.set()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            await self._wake.wait()
            recent = time.monotonic() - self._last_commit < 4 * _LINGER_SECONDS
            if recent and len(self._proposals) < self._last_batch // 2:
                # Right after a commit the requests it answered come back as new ones; a moment's
                # wait lets them share the next write instead of queueing behind a write of one.
                await asyncio.sleep(_LINGER_SECONDS)
            if not self._proposals and self._removals_since is not None:
                delay = self._removals_since + _REMOVAL_DELAY_SECONDS - time.monotonic()
                if delay > 0:
                    self._urgent.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._urgent.wait()
            self._wake.clear()
            proposals, self._proposals = self._proposals, []
            removals, self._removals = self._removals, []
            self._removals_since = None
            if not proposals and not removals:
                continue
            try:
                admitted = await self._commit(proposals, removals)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as error:  # answered to the waiting requests
                logger.warning("job queue write failed: %s", error)
                for proposal in proposals:
                    if not proposal.future.done():
                        proposal.future.set_exception(error)
                if removals:
                    self._removals = removals + self._removals
                    self._removals_since = self._removals_since or time.monotonic()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    self._wake.set()
                continue
            self._last_batch = len(proposals)
            self._last_commit = time.monotonic()
            for record in admitted:
                self._on_admitted(record)

    async def _commit(self, proposals: list[_Proposal], removals: list[_Removal]) -> list[Record]:
        started = time.monotonic()
        for attempt in range(_COMMIT_ATTEMPTS):
            ledger = self._ledger if self._ledger is not None else await self._fetch()
            if proposals and attempt == 0 and time.monotonic() - ledger.read_at > _FRESH_SECONDS:
                ledger = await self._fetch()
            await self._sync(ledger)
            evaluation = self._evaluate(ledger, proposals, removals)
            if evaluation.changed:
                try:
                    self._ledger = await self._write(ledger, evaluation)
                except _Conflict:
                    self._ledger = None
                    continue
            else:
                self._ledger = ledger
            for proposal, result in zip(proposals, evaluation.results, strict=True):
                if not proposal.future.done():
                    proposal.future.set_result(result)
            logger.debug(
                "queue: %d requests (%d admitted), %d removals, %d attempts, %.1f ms; %d records",
                len(proposals),
                len(evaluation.admitted),
                len(removals),
                attempt + 1,
                (time.monotonic() - started) * 1000,
                len(evaluation.ledger.records),
            )
            return evaluation.admitted
        raise QueueBusy("the job queue kept changing; retry the request")

    async def _sync(self, ledger: Ledger) -> None:
        """Bring the cache up to every unit write whose record the ledger no longer holds."""
        self._units.ensure_ready(self.namespace)
        if ledger.watermark:
            await self._units.wait_version(self.namespace, ledger.watermark, _SYNC_SECONDS)

    def _evaluate(
        self, ledger: Ledger, proposals: list[_Proposal], removals: list[_Removal]
    ) -> _Evaluation:
        records = dict(ledger.records)
        # Decisions still see the records this very write removes: the cache was brought up to
        # the ledger's watermark, not yet to the units those records were written into.
        queued = dict(ledger.records)
        changed = False
        watermark = ledger.watermark
        for removal in removals:
            current = records.get(removal.unit)
            if current is not None and current.seq == removal.seq:
                del records[removal.unit]
                changed = True
            watermark = max(watermark, removal.resource_version)
        pending = self._index.pending_names()
        pending.update(
            name
            for name, record in queued.items()
            if not jobs.written(record, self._index.named(name))
        )
        seq = ledger.seq
        results: list[DeploymentJobResult] = []
        admitted: list[Record] = []
        now = time.time()
        for proposal in proposals:
            request = proposal.request
            unit = self._index.unit_for(request.deployment_id)
            name = unit.name if unit is not None else ids.unit_name(request.deployment_id)
            state = jobs.state_of(request.deployment_id, unit, queued.get(name))
            room = self.limit if len(records) < MAX_RECORDS else 0
            decision: Admit | Refuse = jobs.decide(
                request, state, len(pending), room, seq=seq + 1, now=now, replica=self.replica
            )
            if isinstance(decision, Refuse):
                results.append(decision.result)
                continue
            seq += 1
            records[name] = queued[name] = decision.record
            changed = True
            pending.add(name)
            admitted.append(decision.record)
            results.append(decision.result())
        changed = changed or watermark != ledger.watermark
        new = Ledger(
            ledger.resource_version, seq, watermark, records, legacy_keys=ledger.legacy_keys
        )
        return _Evaluation(new, changed, results, admitted)

    async def _fetch(self) -> Ledger:
        found = await self._store.read()
        return Ledger(None) if found is None else Ledger.of(found)

    async def _write(self, base: Ledger, evaluation: _Evaluation) -> Ledger:
        new = evaluation.ledger
        try:
            if base.resource_version is None:
                written = await self._store.create(
                    {k: v for k, v in new.data().items() if v is not None}
                )
            else:
                written = await self._store.patch_data(base.resource_version, new.data())
        except ApiError as error:
            if error.conflict or (error.not_found and base.resource_version is not None):
                raise _Conflict() from error
            raise
        version = written.resource_version or None
        return Ledger(version, new.seq, new.watermark, new.records)
