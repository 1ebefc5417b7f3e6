"""Which named engines the Camunda dialect serves: namespaces the shim serves and that exist.

A namespace's existence is read from the API server and remembered for a while: named-engine
calls are frequent, and namespaces come and go rarely. A missing one is asked again soon, so a
namespace created a moment ago is served almost at once.
"""

import re
import time
from collections.abc import Callable

from deployunits.k8s.core import Namespaces

#: A namespace name (an RFC 1123 label); anything else is no engine without asking.
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class NamedEngines:
    """Answers whether a name is an engine the shim may serve."""

    def __init__(
        self,
        namespaces: Namespaces,
        served: frozenset[str],
        *,
        remember_seconds: float = 30.0,
        remember_missing_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._namespaces = namespaces
        #: The namespaces the shim serves; every namespace when empty.
        self._served = served
        self._remember = remember_seconds
        self._remember_missing = remember_missing_seconds
        self._clock = clock
        self._known: dict[str, tuple[bool, float]] = {}

    def serves(self, name: str) -> bool:
        """Whether the name could be an engine of this shim (without asking the API server)."""
        return bool(_NAMESPACE.match(name)) and (not self._served or name in self._served)

    async def exists(self, name: str) -> bool:
        """Whether `name` is a namespace the shim serves and that exists."""
        if not self.serves(name):
            return False
        now = self._clock()
        known = self._known.get(name)
        if known is not None and known[1] > now:
            return known[0]
        found = await self._namespaces.exists(name)
        if len(self._known) > 10_000:  # names are the caller's: keep the memory bounded
            self._known.clear()
        self._known[name] = (found, now + (self._remember if found else self._remember_missing))
        return found
