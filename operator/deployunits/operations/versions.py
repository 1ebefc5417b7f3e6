"""Race-free version allocation: locks per (namespace, tenant, kind, key) over latest versions."""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

#: (namespace, tenant or "", definition kind, key)
VersionSlot = tuple[str, str, str, str]


@dataclass
class Reservation:
    """Versions proposed under lock; they become the latest only once committed."""

    versions: dict[VersionSlot, int]
    committed: bool = False

    def commit(self) -> None:
        """Call after the status holding these versions was written."""
        self.committed = True


@dataclass
class VersionAllocator:
    """Hands out latest+1 per slot; slots of one unit are locked together in a fixed order.

    The latest known version is the larger of what the watch-fed index shows (statuses written,
    also by earlier operator runs) and what this process committed but the watch has not
    delivered yet; once it has, the index alone counts (the latest unit's version is reused
    after it is undeployed or deleted, like a Camunda engine does). Allocation and the status
    write happen under the same lock, so two units with the same key never get one version,
    and no version is skipped unless a write fails.
    """

    latest_in_index: Callable[[VersionSlot], int]
    _locks: dict[VersionSlot, asyncio.Lock] = field(default_factory=dict)
    _committed: dict[VersionSlot, int] = field(default_factory=dict)

    @asynccontextmanager
    async def reserve(self, slots: Iterable[VersionSlot]) -> AsyncIterator[Reservation]:
        ordered = sorted(set(slots))
        locks = [self._locks.setdefault(slot, asyncio.Lock()) for slot in ordered]
        acquired: list[asyncio.Lock] = []
        try:
            for lock in locks:
                await lock.acquire()
                acquired.append(lock)
            reservation = Reservation({slot: self._latest(slot) + 1 for slot in ordered})
            yield reservation
            if reservation.committed:
                self._committed.update(reservation.versions)
        finally:
            for lock in reversed(acquired):
                lock.release()

    def _latest(self, slot: VersionSlot) -> int:
        indexed = self.latest_in_index(slot)
        if indexed >= self._committed.get(slot, 0):
            # The watch has caught up: from now on the index alone decides, so a version whose
            # unit went away is handed out again, as the engines do and as a restarted
            # operator would.
            self._committed.pop(slot, None)
            return indexed
        return self._committed[slot]

    def seen(self, versions: Mapping[VersionSlot, int]) -> None:
        """The index shows these versions: what was committed up to them needs no bridging."""
        for slot, version in versions.items():
            if self._committed.get(slot, 0) <= version:
                self._committed.pop(slot, None)

    def forget(self, namespace: str) -> None:
        """Drop what is known of a namespace (it was deleted)."""
        for slot in [s for s in self._committed if s[0] == namespace]:
            del self._committed[slot]

    def known(self) -> Mapping[VersionSlot, int]:
        return dict(self._committed)
