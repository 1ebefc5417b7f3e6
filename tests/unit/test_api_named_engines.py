"""Named engines of the Camunda dialect: namespace names only, served ones only, existence
remembered for a while when found and only briefly when missing."""

import asyncio
from typing import cast

from deployunits.api.named_engines import NamedEngines
from deployunits.k8s.core import Namespaces


class FakeNamespaces:
    """The namespaces that exist, and the names asked for."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)
        self.asked: list[str] = []

    async def exists(self, name: str) -> bool:
        self.asked.append(name)
        return name in self.names


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def engines(
    namespaces: FakeNamespaces, served: frozenset[str] = frozenset(), clock: Clock | None = None
) -> NamedEngines:
    return NamedEngines(
        cast(Namespaces, namespaces),
        served,
        remember_seconds=30,
        remember_missing_seconds=1,
        clock=clock or Clock(),
    )


def test_names_that_are_no_namespace_or_not_served_are_refused_without_asking() -> None:
    found = FakeNamespaces("a", "b")
    names = engines(found, frozenset({"a"}))
    assert asyncio.run(names.exists("a"))
    assert not asyncio.run(names.exists("b"))
    assert not asyncio.run(names.exists("Not_A_Namespace"))
    assert found.asked == ["a"]


def test_existence_is_remembered_and_asked_again_when_stale() -> None:
    found = FakeNamespaces("a")
    clock = Clock()
    names = engines(found, clock=clock)
    assert [asyncio.run(names.exists(n)) for n in ("a", "a", "new", "new")] == [
        True,
        True,
        False,
        False,
    ]
    assert found.asked == ["a", "new"]
    found.names.add("new")
    clock.now = 1.5  # a missing one is asked again soon
    assert asyncio.run(names.exists("new"))
    found.names.discard("a")
    clock.now = 29.0
    assert asyncio.run(names.exists("a"))
    clock.now = 31.0
    assert not asyncio.run(names.exists("a"))
    assert found.asked == ["a", "new", "new", "a"]
