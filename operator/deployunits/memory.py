"""Gives the memory a burst of work freed back to the operating system once the process idles.

CPython frees objects into glibc's heap, which keeps the pages: after absorbing a burst of
thousands of events the resident size stays at the burst's high-water mark although the live
data is back to its steady state. When the process goes quiet after busy work, a full
collection and `malloc_trim(0)` return those pages (a few milliseconds, once per burst).
"""

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where there is none (musl, macOS): nothing to trim."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def should_trim(busy_cpu: float, last_interval_cpu: float, interval: float) -> bool:
    """Trim after at least a second of CPU spent since the last trim, once an interval is idle.

    Idle is under 5% of one core; a trim in the middle of a burst would only be undone.
    """
    return busy_cpu >= 1.0 and last_interval_cpu < 0.05 * interval


@dataclass
class IdleTrimmer:
    """A background task that trims the heap when the process goes idle after busy work."""

    interval: float = 1.0
    trim: Callable[[int], int] | None = field(default_factory=malloc_trim)
    trims: int = 0
    _task: "asyncio.Task[None] | None" = None

    def start(self) -> None:
        if self.trim is not None:
            self._task = asyncio.create_task(self._run(), name="idle-memory-trim")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        assert self.trim is not None
        since_trim = previous = time.process_time()
        while True:
            await asyncio.sleep(self.interval)
            now = time.process_time()
            if should_trim(now - since_trim, now - previous, self.interval):
                gc.collect()
                self.trim(0)
                self.trims += 1
                logger.debug("returned freed memory to the OS after %.1fs of CPU", now - since_trim)
                since_trim = time.process_time()
            previous = time.process_time()
