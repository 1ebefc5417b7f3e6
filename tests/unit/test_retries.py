"""Retries with exponential backoff: one pending retry per object, reset on success, cancel.

Matrix: delays doubling up to the ceiling; a new schedule replacing the pending retry; objects
counted apart; an explicit delay; `succeeded` resetting attempts and cancelling; a failing run
rescheduling itself with a longer delay; `close` cancelling pending and in-flight retries.
"""

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from deployunits.k8s.errors import ApiError, ApiUnavailable
from deployunits.operations.retries import ObjectRef, RetryScheduler

T = TypeVar("T")

REF: ObjectRef = ("team", "invoice")
OTHER: ObjectRef = ("team", "receipt")
TIMEOUT = 2.0
#: asyncio timers may fire up to a clock tick early; compare elapsed times with some slack.
SLACK = 0.9


class Recorder:
    """A `run` that notes when it was called, optionally failing the first calls."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error
        self.calls: list[tuple[ObjectRef, float]] = []
        self.attempts_seen: list[int] = []
        self.called = asyncio.Event()
        self.scheduler: RetryScheduler | None = None

    async def __call__(self, ref: ObjectRef) -> None:
        self.calls.append((ref, asyncio.get_running_loop().time()))
        if self.scheduler is not None:
            self.attempts_seen.append(self.scheduler.attempts(ref))
        self.called.set()
        if len(self.calls) <= self.failures:
            raise self.error or RuntimeError(f"attempt {len(self.calls)} failed")
        if self.scheduler is not None:
            self.scheduler.succeeded(ref)


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), TIMEOUT)

    return asyncio.run(bounded())


def retries_left() -> list[asyncio.Task[object]]:
    """The scheduler's retry tasks that are not finished."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done()
        and getattr(task.get_coro(), "__qualname__", "") == "RetryScheduler._later"
    ]


def test_delays_double_up_to_the_ceiling() -> None:
    async def main() -> tuple[list[float], int]:
        scheduler = RetryScheduler(Recorder(), first_delay=0.01, max_delay=0.04)
        delays = [scheduler.schedule(REF) for _ in range(5)]
        attempts = scheduler.attempts(REF)
        await scheduler.close()
        return delays, attempts

    assert run_async(main) == ([0.01, 0.02, 0.04, 0.04, 0.04], 5)


def test_a_new_schedule_replaces_the_pending_retry() -> None:
    async def main() -> tuple[list[ObjectRef], float, float]:
        recorder = Recorder()
        scheduler = RetryScheduler(recorder, first_delay=0.01, max_delay=0.08)
        start = asyncio.get_running_loop().time()
        delays = [scheduler.schedule(REF) for _ in range(4)]
        await recorder.called.wait()
        await asyncio.sleep(0.05)  # room for a retry that should have been cancelled
        await scheduler.close()
        return [ref for ref, _ in recorder.calls], recorder.calls[0][1] - start, delays[-1]

    refs, elapsed, last_delay = run_async(main)
    assert refs == [REF]
    assert elapsed >= last_delay * SLACK


def test_objects_are_counted_apart() -> None:
    async def main() -> tuple[float, float, float, int, int]:
        scheduler = RetryScheduler(Recorder(), first_delay=10.0, max_delay=60.0)
        first = scheduler.schedule(REF)
        second = scheduler.schedule(REF)
        other = scheduler.schedule(OTHER)
        counts = scheduler.attempts(REF), scheduler.attempts(OTHER)
        await scheduler.close()
        return first, second, other, *counts

    assert run_async(main) == (10.0, 20.0, 10.0, 2, 1)


def test_an_explicit_delay_is_used_as_given_and_not_counted() -> None:
    async def main() -> tuple[float, int, float]:
        scheduler = RetryScheduler(Recorder(), first_delay=10.0)
        explicit = scheduler.schedule(REF, 3.5)
        attempts = scheduler.attempts(REF)
        backoff = scheduler.schedule(REF)
        await scheduler.close()
        return explicit, attempts, backoff

    assert run_async(main) == (3.5, 0, 10.0)


def test_succeeded_resets_attempts_and_cancels_the_pending_retry() -> None:
    async def main() -> tuple[int, list[ObjectRef], float, list[asyncio.Task[object]]]:
        recorder = Recorder()
        scheduler = RetryScheduler(recorder, first_delay=0.01, max_delay=1.0)
        scheduler.schedule(REF)
        scheduler.schedule(REF)
        scheduler.succeeded(REF)
        attempts = scheduler.attempts(REF)
        await asyncio.sleep(0.08)  # both delays (0.01, 0.02) have passed
        calls = [ref for ref, _ in recorder.calls]
        restarted = scheduler.schedule(REF)
        await scheduler.close()
        return attempts, calls, restarted, retries_left()

    attempts, calls, restarted, left = run_async(main)
    assert attempts == 0
    assert calls == []
    assert restarted == 0.01
    assert left == []


def test_succeeded_without_a_retry_is_harmless() -> None:
    async def main() -> int:
        scheduler = RetryScheduler(Recorder())
        scheduler.succeeded(REF)
        await scheduler.close()
        return scheduler.attempts(REF)

    assert run_async(main) == 0


def test_a_failing_run_reschedules_with_a_longer_delay(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[Recorder, float, int]:
        recorder = Recorder(failures=2)
        scheduler = RetryScheduler(recorder, first_delay=0.01, max_delay=1.0)
        recorder.scheduler = scheduler
        start = asyncio.get_running_loop().time()
        scheduler.schedule(REF)
        while len(recorder.calls) < 3:
            recorder.called.clear()
            await recorder.called.wait()
        attempts = scheduler.attempts(REF)
        await scheduler.close()
        return recorder, start, attempts

    with caplog.at_level(logging.ERROR, logger="deployunits.operations.retries"):
        recorder, start, attempts = run_async(main)
    times = [start] + [at for _, at in recorder.calls]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert [ref for ref, _ in recorder.calls] == [REF, REF, REF]
    assert recorder.attempts_seen == [1, 2, 3]
    for gap, delay in zip(gaps, [0.01, 0.02, 0.04], strict=True):
        assert gap >= delay * SLACK
    assert attempts == 0  # the third run succeeded
    failures = [r for r in caplog.records if r.getMessage() == "Retry of team/invoice failed."]
    assert len(failures) == 2
    assert all(r.exc_info is not None for r in failures)


@pytest.mark.parametrize(
    "error",
    [
        ApiUnavailable("GET /x: connection refused"),
        ApiError(503, {"message": "starting"}, "GET", "/x"),
    ],
    ids=["unreachable", "busy"],
)
def test_an_outage_is_one_warning_line_and_another_retry(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> Recorder:
        recorder = Recorder(failures=1, error=error)
        scheduler = RetryScheduler(recorder, first_delay=0.01, max_delay=1.0)
        recorder.scheduler = scheduler
        scheduler.schedule(REF)
        while len(recorder.calls) < 2:
            recorder.called.clear()
            await recorder.called.wait()
        await scheduler.close()
        return recorder

    with caplog.at_level(logging.WARNING, logger="deployunits.operations.retries"):
        recorder = run_async(main)
    assert len(recorder.calls) == 2
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert record.getMessage().startswith("Retry of team/invoice failed, API server")


def test_close_cancels_every_pending_retry() -> None:
    async def main() -> tuple[list[ObjectRef], list[asyncio.Task[object]]]:
        recorder = Recorder()
        scheduler = RetryScheduler(recorder, first_delay=0.02)
        scheduler.schedule(REF)
        scheduler.schedule(OTHER)
        await scheduler.close()
        await asyncio.sleep(0.06)
        return [ref for ref, _ in recorder.calls], retries_left()

    calls, left = run_async(main)
    assert calls == []
    assert left == []


def test_close_of_an_idle_scheduler() -> None:
    async def main() -> None:
        await RetryScheduler(Recorder()).close()

    run_async(main)


def test_close_also_stops_a_retry_in_flight() -> None:
    async def main() -> tuple[int, list[asyncio.Task[object]]]:
        started = asyncio.Event()
        finish = asyncio.Event()
        calls = 0

        async def run(_: ObjectRef) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                started.set()
                await finish.wait()
                raise RuntimeError("the API server went away")

        scheduler = RetryScheduler(run, first_delay=0.01)
        scheduler.schedule(REF)
        await started.wait()
        await scheduler.close()
        finish.set()
        await asyncio.sleep(0.05)
        return calls, retries_left()

    calls, left = run_async(main)
    assert calls == 1
    assert left == []
