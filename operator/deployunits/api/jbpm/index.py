"""The dialect's view of the watch-fed unit cache: jBPM units of one namespace, kept current by
the cache's change listener, indexed by deployment id, with the set of units whose job is pending
and the sorted list of deployed ones.
"""

from deployunits.api.cache import CachedUnit, Key
from deployunits.api.jbpm import ids
from deployunits.api.jbpm.jobs import is_deployed, pending_operation


class JbpmIndex:
    """Units with jBPM ids in the dialect's namespace; fed by UnitCache.add_listener."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._units: dict[str, CachedUnit] = {}
        self._by_id: dict[str, set[str]] = {}
        self._pending: set[str] = set()
        self._deployed_version = 0
        self._deployed_view: tuple[int, list[CachedUnit]] | None = None

    def update(self, key: Key, unit: CachedUnit | None) -> None:
        """Take one change of the cache (unit None: deleted)."""
        namespace, name = key
        if namespace != self.namespace:
            return
        old = self._units.pop(name, None)
        if old is not None:
            names = self._by_id.get(old.deployment_id)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_id[old.deployment_id]
            self._pending.discard(name)
        if unit is not None and ids.is_jbpm_id(unit.deployment_id):
            self._units[name] = unit
            self._by_id.setdefault(unit.deployment_id, set()).add(name)
            if pending_operation(unit) is not None:
                self._pending.add(name)
        if is_deployed(old) or is_deployed(self._units.get(name)):
            self._deployed_version += 1

    def named(self, name: str) -> CachedUnit | None:
        return self._units.get(name)

    def unit_for(self, deployment_id: str) -> CachedUnit | None:
        """The unit that stands for a deployment id (ids need not be unique among units).

        Prefer units not being deleted, then the one the shim would have created, then by name.
        """
        names = self._by_id.get(deployment_id)
        if not names:
            return None
        preferred = ids.unit_name(deployment_id)
        units = [self._units[n] for n in names]
        units.sort(key=lambda u: (u.deleting, u.name != preferred, u.name))
        return units[0]

    def pending_names(self) -> set[str]:
        """Names of the units whose last job has not finished."""
        return set(self._pending)

    def pending_count(self) -> int:
        return len(self._pending)

    def deployed(self) -> list[CachedUnit]:
        """Deployed units sorted by deployment id, one per id (cached until one changes)."""
        if self._deployed_view is not None and self._deployed_view[0] == self._deployed_version:
            return self._deployed_view[1]
        chosen: dict[str, CachedUnit] = {}
        for unit in self._units.values():
            if is_deployed(unit) and unit.deployment_id not in chosen:
                best = self.unit_for(unit.deployment_id)
                chosen[unit.deployment_id] = (
                    best if best is not None and is_deployed(best) else unit
                )
        view = [chosen[key] for key in sorted(chosen)]
        self._deployed_view = (self._deployed_version, view)
        return view
