"""Retries of temporary failures with exponential backoff, outside kopf's per-event flow."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from deployunits.k8s.errors import ApiError, ApiUnavailable

logger = logging.getLogger(__name__)

ObjectRef = tuple[str, str]  # (namespace, name)


class RetryLater(Exception):
    """The pass could not finish for a reason that time may fix."""


def temporary(error: BaseException) -> bool:
    """Whether time may fix the failure, so that the pass runs again later rather than failing.

    The API server unreachable or asking to be called later (`ApiError.retryable`), a write
    that conflicts with a newer version (the next pass reads it), a server-side error, or a
    pass that said so itself.
    """
    if isinstance(error, RetryLater | ApiUnavailable):
        return True
    return isinstance(error, ApiError) and (
        error.retryable or error.conflict or error.status >= 500
    )


@dataclass
class RetryScheduler:
    """At most one pending retry per object; the delay doubles up to a ceiling."""

    run: Callable[[ObjectRef], Awaitable[None]]
    first_delay: float = 1.0
    max_delay: float = 60.0
    _pending: dict[ObjectRef, asyncio.Task[None]] = field(default_factory=dict)
    _running: set[asyncio.Task[None]] = field(default_factory=set)
    _attempts: dict[ObjectRef, int] = field(default_factory=dict)
    _closed: bool = False

    def schedule(self, ref: ObjectRef, delay: float | None = None) -> float:
        """Run the object again later (after `delay`, or with backoff); returns the delay."""
        if self._closed:
            return 0.0
        attempt = self._attempts.get(ref, 0)
        if delay is None:
            self._attempts[ref] = attempt + 1
            delay = min(self.first_delay * float(2**attempt), self.max_delay)
        existing = self._pending.get(ref)
        if existing is not None and not existing.done():
            existing.cancel()
        self._pending[ref] = asyncio.create_task(self._later(ref, delay))
        return delay

    async def _later(self, ref: ObjectRef, delay: float) -> None:
        await asyncio.sleep(delay)
        self._pending.pop(ref, None)
        # Still tracked while it runs, so that close() can stop it too.
        current = asyncio.current_task()
        if current is not None:
            self._running.add(current)
        try:
            await self.run(ref)
        except Exception as error:
            if temporary(error):
                # An outage or a busy API server is expected news, not a bug: one line.
                why = "unreachable" if isinstance(error, ApiUnavailable) else "busy"
                logger.warning("Retry of %s/%s failed, API server %s: %s", *ref, why, error)
            else:
                logger.exception("Retry of %s/%s failed.", *ref)
            self.schedule(ref)
        finally:
            if current is not None:
                self._running.discard(current)

    def succeeded(self, ref: ObjectRef) -> None:
        """The object needs no retry (anymore)."""
        self._attempts.pop(ref, None)
        task = self._pending.pop(ref, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def attempts(self, ref: ObjectRef) -> int:
        return self._attempts.get(ref, 0)

    async def close(self) -> None:
        self._closed = True
        tasks = [*self._pending.values(), *self._running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()
