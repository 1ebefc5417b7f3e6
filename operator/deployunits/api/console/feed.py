"""Changes of the unit cache for the console's live list: one listener, any number of viewers.

The cache calls the listener for every stored change; the feed keeps the latest changed keys in a
bounded log with a sequence number, and wakes every waiting viewer. A viewer that fell further
behind than the log reaches starts again from a full list. Viewers cost the API server nothing.
"""

import asyncio
from collections import deque

from deployunits.api.cache import CachedUnit, Key, UnitCache


class UnitFeed:
    """A numbered log of changed unit keys, fed by the cache's listener."""

    def __init__(self, units: UnitCache, *, keep: int = 4096) -> None:
        self._log: deque[tuple[int, Key]] = deque(maxlen=keep)
        self._sequence = 0
        self._changed = asyncio.Event()
        units.add_listener(self._note)

    @property
    def sequence(self) -> int:
        """The number of the latest change."""
        return self._sequence

    def _note(self, key: Key, _unit: CachedUnit | None) -> None:
        self._sequence += 1
        self._log.append((self._sequence, key))
        # Wake everyone waiting on this event; later waiters wait on a fresh one.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def since(self, sequence: int) -> set[Key] | None:
        """The keys changed after `sequence`; None if the log no longer reaches back that far."""
        if sequence >= self._sequence:
            return set()
        if not self._log or self._log[0][0] > sequence + 1:
            return None
        return {key for number, key in self._log if number > sequence}

    async def wait(self, sequence: int, within: float) -> bool:
        """Whether a change after `sequence` happened within `within` seconds."""
        if self._sequence > sequence:
            return True
        changed = self._changed
        try:
            async with asyncio.timeout(within):
                await changed.wait()
        except TimeoutError:
            return False
        return True
