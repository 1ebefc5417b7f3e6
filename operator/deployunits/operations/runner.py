"""The pass runner both reconcilers share: serialized, bounded passes per object, retried later."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from deployunits.k8s.errors import JSON
from deployunits.k8s.meta import ObjectMeta
from deployunits.metrics import OperatorMetrics
from deployunits.operations.retries import ObjectRef, RetryScheduler, temporary

logger = logging.getLogger(__name__)

PlanT = TypeVar("PlanT")


def ref_of(body: JSON) -> ObjectRef:
    return body["metadata"]["namespace"], body["metadata"]["name"]


def resource_version(body: JSON) -> int | None:
    value = str(body["metadata"].get("resourceVersion", ""))
    return int(value) if value.isdigit() else None


def at_version(body: JSON, written: ObjectMeta) -> JSON:
    """`body` under the precondition of the version just written (the one it was read at
    always conflicts after a write)."""
    version = written.resource_version
    return {**body, "metadata": {**body["metadata"], "resourceVersion": version}}


@dataclass
class PassSlots:
    """Bounds the passes that run at once (they call the API server and Maven repositories).

    Events waiting for a slot hold their objects; beyond `max_waiting` of them, further objects
    are kept as references and read again when the backlog has shrunk (bounded memory in a
    burst of thousands of objects).
    """

    passes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(32))
    max_waiting: int = 1000
    waiting: int = 0
    deferred: dict[ObjectRef, None] = field(default_factory=dict)

    def full(self) -> bool:
        return self.waiting >= self.max_waiting


@dataclass
class PassRunner(Generic[PlanT]):
    """Runs the passes of one kind: one at a time per object, skipping stale events, retrying
    temporary failures with backoff, observing each pass in the metrics.

    `plan` looks at an object (under its lock) and returns what the pass is to do, or None when
    there is nothing to do; `act` carries that out and returns seconds until the object should
    be looked at again, or None.
    """

    kind: str
    find: Callable[[ObjectRef], Awaitable[JSON | None]]
    plan: Callable[[JSON], PlanT | None]
    act: Callable[[JSON, PlanT], Awaitable[float | None]]
    metrics: OperatorMetrics | None = None
    retries: RetryScheduler | None = None
    #: None: passes are not bounded (nor deferred).
    slots: PassSlots | None = None
    #: Names the kind in the retry log line, after "Retrying ".
    label: str = ""
    locks: dict[ObjectRef, asyncio.Lock] = field(default_factory=dict)
    #: The newest resourceVersion this process wrote per object: older events are stale.
    written: dict[ObjectRef, int] = field(default_factory=dict)
    _background: set["asyncio.Task[None]"] = field(default_factory=set)

    def lock(self, ref: ObjectRef) -> asyncio.Lock:
        return self.locks.setdefault(ref, asyncio.Lock())

    async def reconcile_ref(self, ref: ObjectRef) -> None:
        """Reconcile the current version of an object (retries start here)."""
        body = await self.find(ref)
        if body is not None:
            await self.reconcile(body)

    async def reconcile(self, body: JSON) -> None:
        """One serialized pass for the object; temporary failures are retried with backoff."""
        ref = ref_of(body)
        async with self.lock(ref):
            if self._stale(ref, body):
                # The watch will deliver the version this process wrote; acting on an older one
                # would repeat work already done (or report an outcome twice).
                return
            plan = self.plan(body)
            if plan is None:
                # Most events are the operator's own writes coming back: nothing to do, and no
                # need to queue for a pass slot (holding the body) to find that out.
                if self.retries is not None:
                    self.retries.succeeded(ref)
                return
            if self.slots is not None and self.slots.full():
                self._defer(ref)
                return
            started, result = time.monotonic(), "ok"
            try:
                delay = await self._act(body, plan)
            except Exception as error:
                result = "retry" if temporary(error) else "error"
                if result == "error" or self.retries is None:
                    raise
                delay = self.retries.schedule(ref)
                logger.info("Retrying %s%s/%s in %.0fs: %s", self.label, *ref, delay, error)
                return
            finally:
                self._observe(result, time.monotonic() - started)
        if self.retries is not None:
            if delay is None:
                self.retries.succeeded(ref)
            else:
                self.retries.schedule(ref, delay)

    async def _act(self, body: JSON, plan: PlanT) -> float | None:
        slots = self.slots
        if slots is None:
            return await self.act(body, plan)
        slots.waiting += 1
        try:
            await slots.passes.acquire()
        finally:
            slots.waiting -= 1
        try:
            return await self.act(body, plan)
        finally:
            slots.passes.release()

    def _observe(self, result: str, seconds: float) -> None:
        if self.metrics is None:
            return
        self.metrics.reconciles.labels(self.kind, result).inc()
        self.metrics.duration.labels(self.kind).observe(seconds)
        if result == "error":
            self.metrics.errors.labels(self.kind).inc()

    def _stale(self, ref: ObjectRef, body: JSON) -> bool:
        seen, written = resource_version(body), self.written.get(ref)
        return seen is not None and written is not None and seen < written

    def remember(self, written: ObjectMeta | None) -> None:
        """Note an object as this process wrote it: events of older versions are stale."""
        if written is not None and written.version:
            ref = (written.namespace or "", written.name)
            self.written[ref] = max(written.version, self.written.get(ref, 0))

    def forget(self, ref: ObjectRef) -> None:
        """The object is gone: drop its lock and pending retries."""
        self.locks.pop(ref, None)
        self.written.pop(ref, None)
        if self.retries is not None:
            self.retries.succeeded(ref)

    def _defer(self, ref: ObjectRef) -> None:
        """Reconcile the object later, from a fresh read, once the backlog has room."""
        assert self.slots is not None
        first = not self.slots.deferred
        self.slots.deferred[ref] = None
        if first:
            self.spawn(self._drain_deferred(self.slots))

    async def _drain_deferred(self, slots: PassSlots) -> None:
        """Feed deferred objects back while the backlog is below half its bound."""
        while slots.deferred:
            if slots.waiting >= slots.max_waiting // 2:
                await asyncio.sleep(0.05)
                continue
            ref = next(iter(slots.deferred))
            del slots.deferred[ref]
            self.spawn(self._reconcile_deferred(ref))
            await asyncio.sleep(0)

    async def _reconcile_deferred(self, ref: ObjectRef) -> None:
        try:
            await self.reconcile_ref(ref)
        except Exception as error:
            if not temporary(error):
                logger.exception("Deferred pass of %s/%s failed.", *ref)
            if self.retries is not None:
                self.retries.schedule(ref)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work in the background, kept referenced until it is done."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background work (at shutdown); deferred objects are left to the next start,
        whose initial listing passes over every object anyway."""
        if self.slots is not None:
            self.slots.deferred.clear()
        await asyncio.gather(*self._background, return_exceptions=True)
