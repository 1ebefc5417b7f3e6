"""Query parameters the way kie-remote's ResourceBase reads them, and its pagination.

Names match case-insensitively; a parameter given twice is a 400 with the engine's text; numbers
follow getNumberFromString (digits with an optional `i` or `l` suffix) and are then narrowed to a
Java int. Page size 0 means no paging; a size without a page means page 1; without paging at most
1000 entries are returned.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from deployunits.models.deploymentunit import MergeMode, RuntimeStrategy

Params = Sequence[tuple[str, str]]
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

#: Entries returned when the client asks for no paging (getMaxNumResultsNeeded).
UNPAGED_LIMIT = 1000
_NUMBER = re.compile(r"^[0-9]+[li]?$")


class ParamError(ValueError):
    """A query parameter the engine refuses with 400; the message is the engine's text."""


def values(params: Params, name: str) -> list[str]:
    """Every value of the first parameter whose name equals `name` ignoring case."""
    for key, _ in params:
        if key.lower() == name.lower():
            return [value for other, value in params if other == key]
    return []


def single(params: Params, name: str, operation: str) -> str | None:
    """getStringParam(name, required=false): None when absent, 400 when given more than once."""
    found = values(params, name)
    if not found:
        return None
    if len(found) != 1:
        raise ParamError(
            f"One and only one '{name}' query parameter required for '{operation}' operation "
            f"({len(found)} passed)."
        )
    return found[0]


def _java_int(value: int) -> int:
    """Number.intValue() of a Java long: keep the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def number(params: Params, name: str, operation: str) -> int | None:
    """getNumberParam(..., mustBeLong=false).intValue(), or None when absent."""
    text = single(params, name, operation)
    if text is None:
        return None
    if not _NUMBER.match(text):
        raise ParamError(f"{name} parameter does not have a numerical format ({text})")
    if text.endswith("i"):
        digits = text[:-1]
        if len(digits) > 9:
            raise ParamError(
                f"{name} parameter is numerical but too large to be an integer ({digits}i)"
            )
        return int(digits)
    if len(text) > 18:
        raise ParamError(f"{name} parameter is numerical but too large to be a long ({text})")
    return _java_int(int(text.removesuffix("l")))


@dataclass(frozen=True)
class PageInfo:
    """Page number (1-based, 0 = none) and page size (0 = no paging) after the engine's rules."""

    page: int
    size: int

    @property
    def paged(self) -> bool:
        return self.size > 0

    @property
    def max_results(self) -> int:
        """getMaxNumResultsNeeded: page x size as a Java int, or 1000 when that is 0."""
        product = _java_int(self.page * self.size)
        return product if product != 0 else UNPAGED_LIMIT


def page_info(params: Params, operation: str) -> PageInfo:
    """getPageNumAndPageSize: `page` before `p`, `pagesize` before `s`; negatives count as 0."""
    page = number(params, "page", operation)
    if page is None:
        page = number(params, "p", operation)
    size = number(params, "pagesize", operation)
    if size is None:
        size = number(params, "s", operation)
    page, size = max(page or 0, 0), max(size or 0, 0)
    return PageInfo(page=0 if size == 0 else page, size=size)


def capped(items: Sequence[T], info: PageInfo) -> list[T]:
    """The first entries the engine collects before paging (it stops at max_results)."""
    return list(items[: max(info.max_results, 1)])


def paginate(items: Sequence[T], info: PageInfo) -> tuple[list[T], int | None, int | None]:
    """The page, and the page number and size to report (both None without paging)."""
    if not info.paged:
        return list(items), None, None
    page = info.page or 1
    start = (page - 1) * info.size
    return list(items[start : start + info.size]), page, info.size


def _member(kind: type[E], what: str, value: str | None) -> E | None:
    """The value upper-cased as a member of `kind`; 400 with the engine's text if it names none."""
    if value is None:
        return None
    upper = value.upper()
    try:
        return kind(upper)
    except ValueError:
        raise ParamError(f"{what} '{upper}' does not exist.") from None


def strategy(value: str | None) -> RuntimeStrategy | None:
    """The `strategy` value upper-cased; 400 with the engine's text if it names none."""
    return _member(RuntimeStrategy, "Runtime strategy", value)


def merge_mode(value: str | None) -> MergeMode | None:
    """The `mergemode` value upper-cased; 400 with the engine's text if it names none."""
    return _member(MergeMode, "Merge mode", value)
