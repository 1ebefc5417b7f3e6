"""Property-based fuzzing of the parsers that read untrusted bytes, shared by unit tests and drills.

Each target is a check that takes one generated input and passes when the parser either returns
a result or refuses the input with its own error type (ContentError, ArchiveError, MultipartError
or a Camunda 4xx, ValueError for ids, ParamError, DescriptorError); any other exception fails the
property and hypothesis shrinks it to a minimal input. `fuzz` runs one target for a number of
examples and returns how many inputs it tried.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployunits.api.camunda.errors import CamundaError
from deployunits.api.camunda.multipart import MultipartError, create_form, parse_form
from deployunits.api.jbpm import ids, params, wire
from deployunits.content.archive import ArchiveError, ArchiveLimits, extract_kjar
from deployunits.content.definitions import parse_definitions
from deployunits.content.policy import find_custom_code
from deployunits.content.xmlsafe import ContentError, parse_xml_document

SAMPLES = Path(__file__).resolve().parents[1] / "unit" / "samples"
MODEL_SAMPLES = sorted(p for p in SAMPLES.iterdir() if p.suffix in {".bpmn", ".dmn", ".cmmn"})
_HOSTILE_XML = [
    b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
    b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>',
    b'<?xml version="1.0" encoding="Shift_JIS"?><a/>',
    b'<?xml version="1.0" encoding="nope"?><a/>',
    b'<?xml version="1.0" encoding="UTF-16"?><a/>',
    b"\xef\xbb\xbf<a/>",
    b'<a xmlns:x="urn:x" x:y="1" x:y="2"/>',
]


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _seed_kjar() -> bytes:
    entries = {p.name: p.read_bytes() for p in MODEL_SAMPLES}
    entries["META-INF/kmodule.xml"] = b'<kmodule xmlns="http://www.drools.org/xsd/kmodule"/>'
    entries["org/acme/Rule.drl"] = b"package org.acme;\nrule r when then end\n"
    return _zip(entries)


SEED_KJAR = _seed_kjar()


def _seed_form() -> tuple[str, bytes]:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="deployment-name"\r\n\r\ninvoice\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="tenant-id"\r\n\r\nt1\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="deploy-changed-only"\r\n\r\ntrue\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="data"; filename="invoice.bpmn"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
        + (SAMPLES / "invoice.bpmn").read_bytes()
        + b"\r\n--XyZ--\r\n"
    )
    return "multipart/form-data; boundary=XyZ", body


SEED_FORM = _seed_form()


@dataclass(frozen=True)
class Mutation:
    """One edit of a byte string at a relative position."""

    kind: str
    at: float
    length: int
    payload: bytes

    def apply(self, data: bytes) -> bytes:
        start = int(self.at * len(data))
        end = min(start + self.length, len(data))
        match self.kind:
            case "delete":
                return data[:start] + data[end:]
            case "insert":
                return data[:start] + self.payload + data[start:]
            case "replace":
                return data[:start] + self.payload + data[end:]
            case "duplicate":
                return data[:end] + data[start:end] + data[end:]
            case _:
                return data[:start]


_MUTATIONS = st.builds(
    Mutation,
    kind=st.sampled_from(["delete", "insert", "replace", "duplicate", "truncate"]),
    at=st.floats(0, 1),
    length=st.integers(0, 64),
    payload=st.one_of(
        st.binary(max_size=16),
        st.sampled_from(
            [b"<", b">", b"&", b'"', b"\x00", b"\xff", b"<!DOCTYPE a>", b"]]>", b"\r\n--XyZ"]
        ),
    ),
)


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed with a few random edits."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = draw(st.sampled_from(seeds))
        for mutation in draw(st.lists(_MUTATIONS, min_size=1, max_size=4)):
            data = mutation.apply(data)
        return data

    return build()


# Targets: each takes one input and fails only on an unexpected exception or a wrong error.

_MODEL_NAMES = ["fuzz.bpmn", "fuzz.dmn", "fuzz.cmmn", "fuzz.bpmn20.xml", "fuzz.txt"]


T = TypeVar("T")
E = TypeVar("E", bound=Exception)


def outcome(call: Callable[[], T], refusal: type[E]) -> T | E:
    """What the call returned, or the refusal it raised; any other exception propagates."""
    try:
        return call()
    except refusal as error:
        return error


def check_xml(data: bytes) -> None:
    document = outcome(lambda: parse_xml_document(data, "fuzz.xml"), ContentError)
    if isinstance(document, ContentError):
        assert document.resource == "fuzz.xml" and document.message, document
        assert str(document).startswith("resource 'fuzz.xml'"), document
        return
    find_custom_code("fuzz.xml", document.root)


def check_definitions(case: tuple[str, bytes]) -> None:
    name, data = case
    found = outcome(lambda: parse_definitions(name, data), ContentError)
    if isinstance(found, ContentError):
        assert found.resource == name and found.message, found
        return
    assert all(d.key and d.resource == name for d in found), found


def check_multipart(case: tuple[str, bytes]) -> None:
    content_type, body = case
    outcome(lambda: parse_form(content_type, body), MultipartError)
    form = outcome(lambda: create_form(content_type, body), CamundaError)
    if isinstance(form, CamundaError):
        assert form.status == 400 and form.type and form.message is not None, form.body()
        return
    assert form.resources, form
    assert all(isinstance(name, str) and name for name, _ in form.resources), form


_SMALL_LIMITS = ArchiveLimits(max_entries=50, max_resource_bytes=256 * 1024)


def check_archive(data: bytes) -> None:
    entries = outcome(lambda: extract_kjar(data, limits=_SMALL_LIMITS), ArchiveError)
    if isinstance(entries, ArchiveError):
        assert entries.message, entries
        return
    assert len(entries) <= _SMALL_LIMITS.max_entries
    assert all(e.size <= _SMALL_LIMITS.max_resource_bytes for e in entries)


def check_jbpm_id(text: str) -> None:
    valid = ids.is_jbpm_id(text)
    assert valid == (re.fullmatch(ids.ROUTE_PATTERN, text, re.ASCII) is not None), text
    parsed = outcome(lambda: ids.parse(text), ValueError)
    if isinstance(parsed, ValueError):
        assert not valid, text
        return
    assert valid and parsed.group_id and parsed.artifact_id and parsed.version, (text, parsed)
    name = ids.unit_name(text)
    assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name


def check_jbpm_params(query: list[tuple[str, str]]) -> None:
    info = outcome(lambda: params.page_info(query, "/deployment/"), params.ParamError)
    if isinstance(info, params.ParamError):
        assert str(info), query
        return
    assert info.page >= 0 and info.size >= 0, info
    page, _, _ = params.paginate(list(range(50)), info)
    assert len(page) <= max(info.size, 50)


def check_descriptor(case: tuple[str, bytes]) -> None:
    content_type, body = case
    found = outcome(lambda: wire.parse_descriptor(body, content_type), wire.DescriptorError)
    if isinstance(found, wire.DescriptorError):
        assert str(found), case


_NAMES = st.sampled_from(_MODEL_NAMES)
_SEEDS = [p.read_bytes() for p in MODEL_SAMPLES] + _HOSTILE_XML
_ID_ALPHABET = st.sampled_from([*"ab.-_:09Z", "é", "\u0660", "\x00", "/", " ", "ß", "🚀"])
_PARAM_NAMES = st.sampled_from(["page", "p", "pagesize", "s", "PAGE", "Page", "strategy", "x"])
_PARAM_VALUES = st.one_of(
    st.from_regex(r"\A-?[0-9]{0,25}[il]?\Z"), st.text(max_size=12), st.just("2147483648")
)

TARGETS: dict[str, tuple[Callable[[Any], None], st.SearchStrategy[Any]]] = {
    "xml (arbitrary bytes)": (check_xml, st.binary(max_size=2048)),
    "xml (mutated documents)": (check_xml, mutated(_SEEDS)),
    "definitions (arbitrary bytes)": (
        check_definitions,
        st.tuples(_NAMES, st.binary(max_size=2048)),
    ),
    "definitions (mutated documents)": (check_definitions, st.tuples(_NAMES, mutated(_SEEDS))),
    "multipart (arbitrary bytes)": (
        check_multipart,
        st.tuples(st.one_of(st.just(SEED_FORM[0]), st.text(max_size=60)), st.binary(max_size=1024)),
    ),
    "multipart (mutated forms)": (
        check_multipart,
        st.tuples(
            st.one_of(
                st.just(SEED_FORM[0]),
                st.sampled_from(
                    [
                        "multipart/form-data",
                        "multipart/form-data; boundary=",
                        'multipart/form-data; boundary="XyZ',
                        "multipart/form-data; boundary=\u00e9\U0001f680",
                        "multipart/form-data; boundary=" + "x" * 200,
                    ]
                ),
            ),
            mutated([SEED_FORM[1]]),
        ),
    ),
    "kjar (arbitrary bytes)": (check_archive, st.binary(max_size=2048)),
    "kjar (mutated zips)": (check_archive, mutated([SEED_KJAR])),
    "jbpm ids": (
        check_jbpm_id,
        st.one_of(
            st.text(_ID_ALPHABET, max_size=40),
            st.text(max_size=40),
            st.from_regex(ids.ROUTE_PATTERN, fullmatch=True),
        ),
    ),
    "jbpm query parameters": (
        check_jbpm_params,
        st.lists(st.tuples(_PARAM_NAMES, _PARAM_VALUES), max_size=4),
    ),
    "jbpm descriptors": (
        check_descriptor,
        st.tuples(
            st.sampled_from(["application/xml", "application/json", "text/xml; charset=x"]),
            st.one_of(
                st.binary(max_size=512),
                mutated(
                    [
                        b"<deployment-descriptor><runtime-strategy>SINGLETON</runtime-strategy>"
                        b"</deployment-descriptor>",
                        b'{"runtimeStrategy": "PER_REQUEST", "auditMode": "JPA"}',
                    ]
                ),
            ),
        ),
    ),
}


def fuzz(target: str, examples: int) -> int:
    """Run one target for `examples` generated inputs; the number of inputs tried."""
    check, strategy = TARGETS[target]
    tried = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def run(value: Any) -> None:
        nonlocal tried
        tried += 1
        check(value)

    run()
    return tried
