"""Version allocation: latest+1 per slot under a lock, only committed versions count.

Matrix: 20 concurrent reservations of one slot; an uncommitted or failed reservation; the
watch-fed index ahead of and behind what was committed; slots locked in sorted order ({a,b}
against {b,a}, no lock held while waiting for an earlier one); a slot named twice; forget.
"""

import asyncio
from collections.abc import Iterable

import pytest

from deployunits.operations.versions import VersionAllocator, VersionSlot

SLOT: VersionSlot = ("team", "", "process", "invoice")
A: VersionSlot = ("team", "", "process", "a")
B: VersionSlot = ("team", "", "process", "b")
TIMEOUT = 2.0


def nothing_indexed(_: VersionSlot) -> int:
    return 0


async def deploy(
    allocator: VersionAllocator, slots: Iterable[VersionSlot]
) -> dict[VersionSlot, int]:
    """Reserve, write the status (a few switches of task), commit."""
    async with allocator.reserve(slots) as reservation:
        for _ in range(3):
            await asyncio.sleep(0)
        reservation.commit()
        return dict(reservation.versions)


def test_concurrent_reservations_of_one_slot_get_consecutive_versions() -> None:
    allocator = VersionAllocator(nothing_indexed)
    inside = 0
    most_inside = 0

    async def one() -> int:
        nonlocal inside, most_inside
        async with allocator.reserve([SLOT]) as reservation:
            inside += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0.001)
            inside -= 1
            reservation.commit()
            return reservation.versions[SLOT]

    async def main() -> list[int]:
        return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(20))), TIMEOUT)

    versions = asyncio.run(main())
    assert sorted(versions) == list(range(1, 21))
    assert most_inside == 1
    assert allocator.known() == {SLOT: 20}


def test_an_uncommitted_reservation_does_not_advance_the_version() -> None:
    allocator = VersionAllocator(nothing_indexed)

    async def main() -> tuple[int, int, int]:
        async with allocator.reserve([SLOT]) as abandoned:
            pass  # the status write failed: no commit
        second = await deploy(allocator, [SLOT])
        third = await deploy(allocator, [SLOT])
        return abandoned.versions[SLOT], second[SLOT], third[SLOT]

    assert asyncio.run(main()) == (1, 1, 2)


def test_a_failing_write_releases_the_lock_and_keeps_the_version() -> None:
    allocator = VersionAllocator(nothing_indexed)

    async def main() -> int:
        await deploy(allocator, [SLOT])
        with pytest.raises(RuntimeError):
            async with allocator.reserve([SLOT]):
                raise RuntimeError("status write refused")
        after = await asyncio.wait_for(deploy(allocator, [SLOT]), TIMEOUT)
        return after[SLOT]

    assert asyncio.run(main()) == 2


def test_the_index_wins_when_it_is_ahead() -> None:
    index = {SLOT: 0}
    allocator = VersionAllocator(lambda slot: index.get(slot, 0))

    async def main() -> list[int]:
        first = await deploy(allocator, [SLOT])
        index[SLOT] = 7  # written by an earlier operator run, seen through the watch
        second = await deploy(allocator, [SLOT])
        return [first[SLOT], second[SLOT]]

    assert asyncio.run(main()) == [1, 8]


def test_committed_versions_win_while_the_index_lags() -> None:
    index = {SLOT: 2}
    allocator = VersionAllocator(lambda slot: index.get(slot, 0))

    async def main() -> list[int]:
        return [(await deploy(allocator, [SLOT]))[SLOT] for _ in range(3)]

    assert asyncio.run(main()) == [3, 4, 5]


def test_slots_are_allocated_independently() -> None:
    allocator = VersionAllocator(nothing_indexed)

    async def main() -> list[dict[VersionSlot, int]]:
        return [
            await deploy(allocator, [A]),
            await deploy(allocator, [A, B]),
            await deploy(allocator, [B]),
        ]

    assert asyncio.run(main()) == [{A: 1}, {A: 2, B: 1}, {B: 2}]


def test_opposite_orders_do_not_deadlock() -> None:
    allocator = VersionAllocator(nothing_indexed)

    async def main() -> list[dict[VersionSlot, int]]:
        rounds = [deploy(allocator, [A, B] if n % 2 else [B, A]) for n in range(10)]
        return await asyncio.wait_for(asyncio.gather(*rounds), TIMEOUT)

    results = asyncio.run(main())
    assert sorted(r[A] for r in results) == list(range(1, 11))
    assert sorted(r[B] for r in results) == list(range(1, 11))
    assert all(r[A] == r[B] for r in results)  # both slots were held together


def test_a_waiting_reservation_holds_no_later_slot() -> None:
    # While {a} is held, a reservation of {b, a} waits for a first, so {b} stays free.
    allocator = VersionAllocator(nothing_indexed)

    async def main() -> tuple[dict[VersionSlot, int], dict[VersionSlot, int]]:
        release = asyncio.Event()

        async def hold_a() -> None:
            async with allocator.reserve([A]) as reservation:
                await release.wait()
                reservation.commit()

        holder = asyncio.create_task(hold_a())
        await asyncio.sleep(0)
        both = asyncio.create_task(deploy(allocator, [B, A]))
        await asyncio.sleep(0)
        only_b = await asyncio.wait_for(deploy(allocator, [B]), TIMEOUT)
        release.set()
        await asyncio.wait_for(holder, TIMEOUT)
        return only_b, await asyncio.wait_for(both, TIMEOUT)

    only_b, both = asyncio.run(main())
    assert only_b == {B: 1}
    assert both == {A: 2, B: 2}


def test_a_slot_named_twice_is_locked_once() -> None:
    allocator = VersionAllocator(nothing_indexed)

    async def main() -> dict[VersionSlot, int]:
        return await asyncio.wait_for(deploy(allocator, [A, A, B]), TIMEOUT)

    assert asyncio.run(main()) == {A: 1, B: 1}


def test_forget_drops_a_namespace() -> None:
    other: VersionSlot = ("other", "", "process", "a")
    allocator = VersionAllocator(nothing_indexed)

    async def main() -> None:
        await deploy(allocator, [A, other])

    asyncio.run(main())
    allocator.forget("team")
    assert allocator.known() == {other: 1}


def test_a_withdrawn_latest_version_is_handed_out_again_once_the_index_caught_up() -> None:
    indexed = {SLOT: 0}
    allocator = VersionAllocator(lambda slot: indexed.get(slot, 0))

    assert asyncio.run(deploy(allocator, [SLOT])) == {SLOT: 1}
    assert asyncio.run(deploy(allocator, [SLOT])) == {SLOT: 2}  # the index still lags
    indexed[SLOT] = 2  # the watch delivers both statuses
    assert asyncio.run(deploy(allocator, [SLOT])) == {SLOT: 3}
    indexed[SLOT] = 3
    allocator.seen({SLOT: 3})  # the unit's own event: the index holds version 3
    indexed[SLOT] = 2  # ...and then the unit holding version 3 is undeployed
    # As an engine would, and as a restarted operator would: the latest existing plus one.
    assert asyncio.run(deploy(allocator, [SLOT])) == {SLOT: 3}


def test_a_version_the_index_never_showed_is_not_handed_out_twice() -> None:
    indexed = {SLOT: 0}
    allocator = VersionAllocator(lambda slot: indexed.get(slot, 0))
    assert asyncio.run(deploy(allocator, [SLOT])) == {SLOT: 1}
    allocator.seen({SLOT: 0})  # an older event: no news of version 1
    assert asyncio.run(deploy(allocator, [SLOT])) == {SLOT: 2}
