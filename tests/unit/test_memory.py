"""Memory: the collector tuned for large heaps; the idle trimmer returns memory to the OS once
per burst."""

import asyncio
import gc
import time

from deployunits.memory import (
    GC_THRESHOLDS,
    IdleTrimmer,
    malloc_trim,
    should_trim,
    tune_collector,
)


def test_trims_only_after_busy_work_once_the_process_is_idle() -> None:
    assert should_trim(busy_cpu=3.0, last_interval_cpu=0.01, interval=1.0)
    assert not should_trim(busy_cpu=3.0, last_interval_cpu=0.5, interval=1.0)  # still busy
    assert not should_trim(busy_cpu=0.2, last_interval_cpu=0.0, interval=1.0)  # nothing to give


def test_glibc_has_malloc_trim() -> None:
    trim = malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)


def test_a_burst_then_quiet_leads_to_one_trim() -> None:
    calls: list[int] = []

    def record(pad: int) -> int:
        calls.append(pad)
        return 1

    async def scenario() -> int:
        trimmer = IdleTrimmer(interval=0.05, trim=record)
        trimmer.start()
        end = time.process_time() + 1.2
        while time.process_time() < end:  # a burst: over a second of CPU
            sum(range(10_000))
            await asyncio.sleep(0)
        await asyncio.sleep(0.5)  # quiet
        await trimmer.stop()
        return trimmer.trims

    assert asyncio.run(scenario()) == 1
    assert calls == [0]


def test_the_collector_is_tuned_for_large_heaps() -> None:
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > before[0]
        # What start-up loaded is left out of every collection from then on.
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
