"""The units as an engine-bound Camunda dialect shows them: under the engine's deployment ids.

A client of an engine-bound shim goes on to call the engine with the ids it got back (start an
instance of a definition, read a deployment in Cockpit), so the shim shows each unit synced to
the bound engine as the engine knows it: the engine's deployment id (the definitions carry the
engine's ids and versions already). Only units synced to that engine are listed, so lists and
counts equal the engine's own once its other deployments are adopted; a unit's own id finds it
too. The index is fed by the unit cache's listener, before the cache wakes its waiters.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from deployunits.api.cache import CachedUnit, DerivedViews, Key, UnitCache, sorted_view

V = TypeVar("V")


def engine_deployment_id(unit: CachedUnit) -> tuple[str, str] | None:
    """(ProcessEngine, engine deployment id) of a unit the engine holds and reads may show."""
    sync = unit.status.engine
    if not unit.visible or sync is None or not sync.deployment_id:
        return None
    return sync.name, sync.deployment_id


def presented(unit: CachedUnit, engine_id: str) -> CachedUnit:
    """The unit under the engine's deployment id."""
    spec = unit.spec.model_copy(update={"deployment_id": engine_id})
    return dataclasses.replace(unit, spec=spec)


class BoundIndex:
    """Every unit synced to an engine, by (namespace, ProcessEngine) and engine deployment id."""

    def __init__(self, units: UnitCache) -> None:
        self._by_engine: dict[tuple[str, str], dict[str, CachedUnit]] = {}
        self._of: dict[Key, tuple[str, str]] = {}
        #: Bumped on every change of an engine's set, for sorted views.
        self._versions: dict[tuple[str, str], int] = {}
        self._views = DerivedViews()
        units.add_listener(self._changed)

    def _changed(self, key: Key, unit: CachedUnit | None) -> None:
        namespace, name = key
        old = self._of.pop(key, None)
        if old is not None:
            engine, engine_id = old
            bucket = self._by_engine.get((namespace, engine), {})
            shown = bucket.get(engine_id)
            if shown is not None and shown.name == name:
                del bucket[engine_id]
            self._bump(namespace, engine)
        found = engine_deployment_id(unit) if unit is not None else None
        if unit is not None and found is not None:
            engine, engine_id = found
            self._of[key] = found
            self._by_engine.setdefault((namespace, engine), {})[engine_id] = presented(
                unit, engine_id
            )
            self._bump(namespace, engine)

    def _bump(self, namespace: str, engine: str) -> None:
        self._versions[(namespace, engine)] = self._versions.get((namespace, engine), 0) + 1

    def get(self, namespace: str, engine: str, engine_id: str) -> CachedUnit | None:
        """The unit synced to the engine as this deployment, presented."""
        return self._by_engine.get((namespace, engine), {}).get(engine_id)

    def units(self, namespace: str, engine: str) -> list[CachedUnit]:
        """Every unit synced to the engine, presented."""
        return list(self._by_engine.get((namespace, engine), {}).values())

    def derived(self, namespace: str, engine: str, name: str, build: Callable[[], V]) -> V:
        """A value derived from the units synced to the engine; built again once they change."""
        version = self._versions.get((namespace, engine), 0)
        return self._views.get((namespace, engine, name), version, build)


class BoundUnits:
    """The reads of the units synced to one ProcessEngine, under its deployment ids."""

    def __init__(self, index: BoundIndex, units: UnitCache, engine: str) -> None:
        self._index = index
        self._units = units
        self.engine = engine

    def deployment(self, namespace: str, deployment_id: str) -> CachedUnit | None:
        """The unit with this engine deployment id, or with this id of its own."""
        found = self._index.get(namespace, self.engine, deployment_id)
        if found is not None:
            return found
        own = self._units.deployment(namespace, deployment_id)
        return None if own is None else self.present(own)

    def present(self, unit: CachedUnit) -> CachedUnit | None:
        """The unit as this engine shows it; None if it is not synced to this engine."""
        found = engine_deployment_id(unit)
        if found is None or found[0] != self.engine:
            return None
        return presented(unit, found[1])

    def deployments(self, namespace: str) -> list[CachedUnit]:
        return self._index.units(namespace, self.engine)

    def sorted_view(
        self, namespace: str, name: str, key: Callable[[CachedUnit], Any]
    ) -> list[CachedUnit]:
        return sorted_view(self, namespace, name, key)

    def derived(self, namespace: str, name: str, build: Callable[[], V]) -> V:
        return self._index.derived(namespace, self.engine, name, build)
