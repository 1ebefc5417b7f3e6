"""Safe extraction of business resources from a kjar: bounded counts, sizes, ratios and names.

Name rules are shared with ConfigMap keys and inline resource names through
`validate_resource_name`, which raises `ResourceNameError`. That class is both an `ArchiveError`
(so `extract_kjar` callers catch one type) and a `ValueError` (so pydantic validators can call it).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass

from deployunits import constants

__all__ = [
    "BUSINESS_RESOURCE_SUFFIXES",
    "DEFAULT_LIMITS",
    "KMODULE_XML",
    "ArchiveEntry",
    "ArchiveError",
    "ArchiveLimits",
    "ResourceNameError",
    "extract_kjar",
    "is_business_resource",
    "validate_resource_name",
]

KMODULE_XML = "META-INF/kmodule.xml"
BUSINESS_RESOURCE_SUFFIXES: tuple[str, ...] = (
    ".bpmn",
    ".bpmn2",
    ".bpmn20.xml",
    ".dmn",
    ".dmn11.xml",
    ".cmmn",
    ".cmmn11.xml",
    ".drl",
    ".rdrl",
    ".dsl",
    ".dslr",
    ".xls",
    ".xlsx",
    ".form",
    ".frm",
    ".wid",
)
MAX_NAME_LENGTH = 255

_CHUNK = 64 * 1024
# C0 and C1 control characters and DEL: invisible in logs and UIs, and NUL truncates names.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"[A-Za-z]:")


class ArchiveError(Exception):
    """The archive or one of its entries is refused; permanent (the same bytes fail again)."""

    def __init__(self, message: str, *, entry: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.entry = entry


class ResourceNameError(ArchiveError, ValueError):
    """A resource name (jar entry, ConfigMap key, inline name) breaks the path rules."""


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Bounds on what one archive may make the operator read and keep."""

    max_entries: int = 10_000
    max_resource_bytes: int = constants.MAX_RESOURCE_BYTES
    max_total_bytes: int = constants.MAX_UNIT_BYTES
    # Uncompressed / compressed size; honest XML stays well below, zip bombs go far above.
    max_compression_ratio: int = 100
    # Tiny entries (a few KiB of whitespace) can compress beyond the ratio and do no harm.
    ratio_grace_bytes: int = 64 * 1024
    max_name_length: int = MAX_NAME_LENGTH


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One kept resource: its path inside the archive and its bytes."""

    name: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


def validate_resource_name(name: str, *, max_length: int = MAX_NAME_LENGTH) -> None:
    """Raise `ResourceNameError` unless `name` is a safe relative path like `a/b/c.bpmn`.

    Refused: empty names, more than `max_length` characters, absolute paths (`/x`, `C:x`),
    backslashes, control characters (NUL included), and empty, `.` or `..` segments.
    """
    problem = _name_problem(name, max_length)
    if problem:
        raise ResourceNameError(f"invalid resource name {name!r}: {problem}", entry=name)


def _name_problem(name: str, max_length: int) -> str | None:
    if not name:
        return "the name is empty"
    if len(name) > max_length:
        return f"longer than {max_length} characters"
    if _CONTROL.search(name):
        return "contains control characters"
    if "\\" in name:
        return "contains a backslash; use '/' between directories"
    if name.startswith("/") or _DRIVE.match(name):
        return "is an absolute path; use a relative one"
    segments = name.split("/")
    if ".." in segments:
        return "contains a '..' segment"
    if "." in segments or "" in segments:
        return "contains an empty or '.' segment"
    return None


def is_business_resource(name: str) -> bool:
    """True for process, decision, case, rule, form and work item files, and kmodule.xml."""
    return name == KMODULE_XML or name.lower().endswith(BUSINESS_RESOURCE_SUFFIXES)


def extract_kjar(data: bytes, *, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[ArchiveEntry]:
    """Business resources of the jar `data`, in archive order; everything else is skipped.

    Sizes declared in zip headers are only used to refuse early: every kept entry is read through
    a bounded reader that stops as soon as a limit is passed, so a zip bomb is never inflated.
    Raises `ArchiveError` (permanent) naming the offending entry.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"not a valid jar/zip archive: {exc}") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise ArchiveError(
                f"the archive has {len(infos)} entries, over the limit of {limits.max_entries}"
            )
        kept: list[ArchiveEntry] = []
        seen: set[str] = set()
        total = 0
        for info in infos:
            # orig_filename: zipfile silently cuts filename at a NUL byte, hiding the real name.
            if info.is_dir() or not is_business_resource(info.orig_filename):
                continue
            validate_resource_name(info.orig_filename, max_length=limits.max_name_length)
            name = info.filename
            if name in seen:
                raise ArchiveError(f"duplicate archive entry {name!r}", entry=name)
            seen.add(name)
            content = _read_entry(archive, info, limits, budget=limits.max_total_bytes - total)
            total += len(content)
            kept.append(ArchiveEntry(name=name, content=content))
        return kept


def _read_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits, *, budget: int
) -> bytes:
    name = info.filename
    if info.flag_bits & 0x1:
        raise ArchiveError(f"archive entry {name!r} is encrypted", entry=name)
    _check_size(name, info.file_size, info.compress_size, limits, budget)
    body = bytearray()
    try:
        with archive.open(info) as stream:
            # read(n) inflates at most n bytes, so each check runs before more is produced.
            while chunk := stream.read(_CHUNK):
                body += chunk
                _check_size(name, len(body), info.compress_size, limits, budget)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        # ValueError: a local header offset before the start of the data (a cut-off archive).
        raise ArchiveError(f"archive entry {name!r} is corrupt: {exc}", entry=name) from exc
    except (NotImplementedError, RuntimeError) as exc:
        raise ArchiveError(f"archive entry {name!r} cannot be read: {exc}", entry=name) from exc
    return bytes(body)


def _check_size(name: str, size: int, compressed: int, limits: ArchiveLimits, budget: int) -> None:
    if size > limits.max_resource_bytes:
        raise ArchiveError(
            f"archive entry {name!r} is larger than the limit of {limits.max_resource_bytes} bytes",
            entry=name,
        )
    if size > budget:
        raise ArchiveError(
            f"archive entry {name!r} takes the resources past the total limit of "
            f"{limits.max_total_bytes} bytes",
            entry=name,
        )
    if size > limits.ratio_grace_bytes and size > limits.max_compression_ratio * max(compressed, 1):
        raise ArchiveError(
            f"archive entry {name!r} expands more than {limits.max_compression_ratio} times "
            "(a zip bomb?)",
            entry=name,
        )
