"""Unit tests of safe kjar extraction: resource filtering, size and ratio bounds, entry names."""

from __future__ import annotations

import io
import os
import struct
import time
import zipfile

import pytest

from deployunits.content.archive import (
    KMODULE_XML,
    ArchiveError,
    ArchiveLimits,
    ResourceNameError,
    extract_kjar,
    is_business_resource,
    validate_resource_name,
)
from devcluster.kjars import build_kjar

MIB = 1024 * 1024


def make_zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_keeps_business_resources_and_kmodule_only() -> None:
    business = {
        "processes/order.bpmn": b"<bpmn/>",
        "processes/legacy.bpmn2": b"<bpmn2/>",
        "processes/camunda.bpmn20.xml": b"<bpmn20/>",
        "decisions/risk.dmn": b"<dmn/>",
        "decisions/old.dmn11.xml": b"<dmn11/>",
        "cases/claim.cmmn": b"<cmmn/>",
        "cases/old.cmmn11.xml": b"<cmmn11/>",
        "rules/discount.drl": b"rule x end",
        "rules/guided.rdrl": b"rule y end",
        "rules/lang.dsl": b"[when]x=y",
        "rules/uses.dslr": b"rule z end",
        "tables/prices.xls": b"xls",
        "tables/prices.xlsx": b"xlsx",
        "forms/order.form": b"{}",
        "forms/old.frm": b"{}",
        "WorkDefinitions.wid": b"[]",
        "processes/UPPER.BPMN": b"<bpmn/>",
    }
    ignored = {
        "com/example/Order.class": b"\xca\xfe\xba\xbe",
        "README.md": b"# readme",
        "log4j.properties": b"x=y",
        "processes/order.bpmn.bak": b"old",
        "processes/order-svg.svg": b"<svg/>",
        "META-INF/kie-deployment-descriptor.xml": b"<deployment-descriptor/>",
    }
    jar = build_kjar({**business, **ignored})

    entries = extract_kjar(jar)

    assert [e.name for e in entries] == [KMODULE_XML, *business]
    assert {e.name: e.content for e in entries if e.name != KMODULE_XML} == business
    assert entries[0].content.startswith(b"<?xml")


def test_directories_are_skipped() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.mkdir("processes.bpmn")
        archive.writestr("processes.bpmn/a.bpmn", b"<a/>")

    assert [e.name for e in extract_kjar(buffer.getvalue())] == ["processes.bpmn/a.bpmn"]


def test_zip_bomb_is_refused_without_inflating_it() -> None:
    bomb = make_zip({"bomb.bpmn": bytes(50 * MIB)})
    assert len(bomb) < MIB // 10

    started = time.monotonic()
    with pytest.raises(ArchiveError, match=r"'bomb\.bpmn' is larger than the limit") as caught:
        extract_kjar(bomb)
    assert time.monotonic() - started < 0.5
    assert caught.value.entry == "bomb.bpmn"


def test_compression_ratio_is_bounded_even_under_size_limits() -> None:
    bomb = make_zip({"bomb.dmn": bytes(50 * MIB)})
    roomy = ArchiveLimits(max_resource_bytes=100 * MIB, max_total_bytes=100 * MIB)

    started = time.monotonic()
    with pytest.raises(ArchiveError, match=r"'bomb\.dmn' expands more than 100 times"):
        extract_kjar(bomb, limits=roomy)
    assert time.monotonic() - started < 0.5


def test_small_well_compressed_entries_are_fine() -> None:
    # Whitespace-heavy XML compresses far beyond 100x; below the grace size that is harmless.
    entries = extract_kjar(make_zip({"pretty.bpmn": b" " * 60_000}))

    assert entries[0].size == 60_000


def _patch_declared_size(data: bytes, declared: int) -> bytes:
    """Rewrite the uncompressed size in the central directory, as a hostile archive would."""
    patched = bytearray(data)
    central = patched.index(b"PK\x01\x02")
    struct.pack_into("<I", patched, central + 24, declared)
    return bytes(patched)


def test_declared_size_is_not_trusted() -> None:
    honest = make_zip({"liar.bpmn": bytes(50 * MIB)})
    # Under every limit on paper: 100 KB declared, ratio about 2.
    lying = _patch_declared_size(honest, 100_000)
    assert zipfile.ZipFile(io.BytesIO(lying)).getinfo("liar.bpmn").file_size == 100_000

    started = time.monotonic()
    with pytest.raises(ArchiveError, match=r"'liar\.bpmn'"):
        extract_kjar(lying)
    assert time.monotonic() - started < 0.5


def test_single_resource_over_the_limit() -> None:
    jar = make_zip({"big.drl": os.urandom(10 * MIB + 1)})

    limit = r"'big\.drl' is larger than the limit of 10485760 bytes"
    with pytest.raises(ArchiveError, match=limit):
        extract_kjar(jar)


def test_total_size_is_bounded() -> None:
    jar = make_zip({f"r{i}.drl": os.urandom(1000) for i in range(3)})
    limits = ArchiveLimits(max_resource_bytes=1000, max_total_bytes=2500)

    with pytest.raises(ArchiveError, match=r"'r2\.drl' takes the resources past the total limit"):
        extract_kjar(jar, limits=limits)


def test_too_many_entries() -> None:
    jar = make_zip({f"com/example/C{i}.class": b"" for i in range(10_001)})

    with pytest.raises(ArchiveError, match="10001 entries, over the limit of 10000"):
        extract_kjar(jar)


def test_entry_limit_is_configurable() -> None:
    jar = make_zip({f"p{i}.bpmn": b"<p/>" for i in range(4)})

    assert len(extract_kjar(jar, limits=ArchiveLimits(max_entries=4))) == 4
    with pytest.raises(ArchiveError, match="over the limit of 3"):
        extract_kjar(jar, limits=ArchiveLimits(max_entries=3))


@pytest.mark.parametrize(
    "name",
    [
        "../evil.bpmn",
        "/abs.bpmn",
        "a\\b.bpmn",
        "processes/../../evil.dmn",
        "C:/windows.bpmn",
        "processes//double.bpmn",
        "./here.bpmn",
        "tab\there.bpmn",
        "x" * 251 + ".bpmn",
    ],
)
def test_unsafe_entry_names_are_refused(name: str) -> None:
    jar = make_zip({"ok.bpmn": b"<ok/>", name: b"<evil/>"})

    with pytest.raises(ResourceNameError, match="invalid resource name") as caught:
        extract_kjar(jar)
    assert caught.value.entry == name
    assert isinstance(caught.value, ArchiveError)


def test_nul_in_entry_name_is_refused() -> None:
    # zipfile cuts names at NUL when writing, so put the byte in the archive directly.
    jar = make_zip({"evil_x.bpmn": b"<evil/>"}).replace(b"evil_x.bpmn", b"evil\0x.bpmn")

    with pytest.raises(ResourceNameError, match="control characters"):
        extract_kjar(jar)


def test_duplicate_entries_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("p.bpmn", b"<one/>")
        with pytest.warns(UserWarning, match="Duplicate"):
            archive.writestr("p.bpmn", b"<two/>")

    with pytest.raises(ArchiveError, match=r"duplicate archive entry 'p\.bpmn'"):
        extract_kjar(buffer.getvalue())


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", b"PK\x03\x04truncated", make_zip({"a.bpmn": b"<a/>"})[:-30]],
    ids=["empty", "text", "truncated-header", "truncated-directory"],
)
def test_not_a_zip(data: bytes) -> None:
    with pytest.raises(ArchiveError, match="not a valid jar/zip archive"):
        extract_kjar(data)


def test_corrupt_entry_data_is_refused() -> None:
    jar = bytearray(make_zip({"a.bpmn": b"<definitions>" * 100}))
    start = jar.index(b"a.bpmn") + len("a.bpmn")  # compressed data follows the local header name
    jar[start : start + 8] = b"\xff" * 8

    with pytest.raises(ArchiveError, match=r"'a\.bpmn' is corrupt"):
        extract_kjar(bytes(jar))


def test_an_archive_missing_its_first_byte_is_refused() -> None:
    # Found by the hostile-input drill: the entry's local header then lies before the data,
    # and zipfile raised ValueError("negative seek value -1") instead of a zip error.
    jar = make_zip({"a.bpmn": b"<definitions/>"})[1:]

    with pytest.raises(ArchiveError, match=r"'a\.bpmn' is corrupt"):
        extract_kjar(jar)


@pytest.mark.parametrize(
    "name",
    ["order.bpmn", "processes/order.bpmn", "a-b_c.d/e f.dmn", "ünïcode.bpmn", "x" * 255],
)
def test_valid_resource_names(name: str) -> None:
    validate_resource_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "..", "../x", "a/..", "/x", "\\x", "a\\b", "a\0b", "a\nb", "a//b", "a/", ".", "x" * 256],
)
def test_invalid_resource_names(name: str) -> None:
    with pytest.raises(ResourceNameError):
        validate_resource_name(name)
    with pytest.raises(ValueError, match="invalid resource name"):
        validate_resource_name(name)


def test_is_business_resource() -> None:
    assert is_business_resource("META-INF/kmodule.xml")
    assert is_business_resource("a/b.Bpmn2")
    assert not is_business_resource("META-INF/maven/g/a/pom.xml")
    assert not is_business_resource("a/b.class")
