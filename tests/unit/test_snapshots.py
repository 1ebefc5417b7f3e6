"""Snapshot ConfigMaps: content stored gzipped (or plain when that does not shrink it), read back
whole, checked against its sha256, and refused when it is not what its name promises."""

import base64
import gzip
import os
import random

import pytest

from deployunits.content.digest import sha256_hex
from deployunits.k8s import snapshots

BPMN = (
    b'<?xml version="1.0" encoding="UTF-8"?><definitions id="d">'
    + b"".join(b'<task id="t%d" name="Task number %d"/>' % (i, i) for i in range(300))
    + b"</definitions>"
)


def stored(content: bytes) -> dict[str, object]:
    return snapshots.snapshot_body(sha256_hex(content), content)


def test_xml_is_stored_gzipped_and_reads_back_whole() -> None:
    body = stored(BPMN)
    [(key, value)] = body["binaryData"].items()  # type: ignore[attr-defined]
    assert key == snapshots.CONTENT_KEY == "content.gz"
    assert len(base64.b64decode(value)) < len(BPMN) / 5
    assert gzip.decompress(base64.b64decode(value)) == BPMN
    assert snapshots.content_of(body, sha256_hex(BPMN)) == BPMN


def test_content_that_does_not_shrink_is_stored_as_is() -> None:
    noise = os.urandom(4096)
    body = stored(noise)
    assert list(body["binaryData"]) == [snapshots.PLAIN_CONTENT_KEY]  # type: ignore[call-overload]
    assert snapshots.content_of(body, sha256_hex(noise)) == noise


def test_the_same_content_always_gives_the_same_configmap() -> None:
    assert stored(BPMN) == stored(BPMN)


def test_snapshots_written_before_compression_stay_readable() -> None:
    legacy = {
        "metadata": {"name": snapshots.snapshot_name(sha256_hex(BPMN))},
        "binaryData": {"content": base64.b64encode(BPMN).decode()},
    }
    assert snapshots.content_of(legacy, sha256_hex(BPMN)) == BPMN


@pytest.mark.parametrize(
    ("binary_data", "fault"),
    [
        ({}, "no content"),
        ({"content.gz": "not base64!"}, "unreadable"),
        ({"content.gz": base64.b64encode(b"plain text").decode()}, "not gzip"),
        (
            {"content.gz": base64.b64encode(gzip.compress(BPMN)[:-20]).decode()},
            "complete gzip member",
        ),
        (
            {"content.gz": base64.b64encode(gzip.compress(BPMN) + gzip.compress(b"x")).decode()},
            "complete gzip member",
        ),
        ({"content": base64.b64encode(b"other content").decode()}, "does not match its sha256"),
    ],
)
def test_a_snapshot_that_is_not_what_its_name_promises_is_refused(
    binary_data: dict[str, str], fault: str
) -> None:
    config_map = {"metadata": {"name": "bpm-snapshot-x"}, "binaryData": binary_data}
    with pytest.raises(ValueError, match=fault):
        snapshots.content_of(config_map, sha256_hex(BPMN))


def test_a_gzip_bomb_named_like_a_snapshot_is_refused_without_unpacking_it() -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
    assert len(bomb) < 16 * 1024
    with pytest.raises(ValueError, match="unpacks to more than 1048576 bytes"):
        snapshots.unpack(bomb, max_bytes=1024 * 1024)


def big_bpmn(size: int) -> bytes:
    """A BPMN of about `size` bytes whose documentation compresses as prose does."""
    words = [b"order", b"invoice", b"approve", b"customer", b"shipment", b"review", b"escalate"]
    rng = random.Random(size)
    text = b" ".join(rng.choice(words) + b"%d" % rng.randrange(100) for _ in range(size // 9))
    head = b'<definitions id="d"><process id="p"><documentation>'
    return (head + text)[:size] + b"</documentation>"


@pytest.mark.parametrize(
    "content",
    [big_bpmn(10 * 1024 * 1024), random.Random(7).randbytes(3 * 1024 * 1024)],
    ids=["10-mib-bpmn", "3-mib-noise"],
)
def test_content_over_one_configmap_is_stored_as_an_index_of_parts_that_each_fit(
    content: bytes,
) -> None:
    body = stored(content)
    [(key, _)] = body["binaryData"].items()  # type: ignore[attr-defined]
    assert key == snapshots.PARTS_KEY
    parts = snapshots.index_of(body)
    assert parts is not None and len(parts) > 1
    pieces = snapshots.split(content)
    assert b"".join(pieces) == content
    assert [(p.sha256, p.size) for p in parts] == [(sha256_hex(x), len(x)) for x in pieces]
    index = {"metadata": {"name": body["metadata"]["name"], "uid": "u"}}  # type: ignore[index]
    for piece in pieces:
        part = snapshots.part_body(piece, index)
        [value] = part["binaryData"].values()
        assert len(base64.b64decode(value)) <= snapshots.MAX_STORED_BYTES
        assert snapshots.content_of(part, sha256_hex(piece)) == piece
        assert part["metadata"]["ownerReferences"][0]["kind"] == "ConfigMap"


def test_a_compressible_content_takes_few_parts() -> None:
    # Parts are filled nearly: at most one more than the gzipped size needs.
    content = big_bpmn(10 * 1024 * 1024)
    needed = -(-len(snapshots.pack(content)) // snapshots.MAX_STORED_BYTES)
    assert len(snapshots.split(content)) <= needed + 1


def test_content_that_fits_one_configmap_gzipped_is_not_split() -> None:
    content = big_bpmn(2 * 1024 * 1024)
    [key] = stored(content)["binaryData"]  # type: ignore[call-overload]
    assert key == snapshots.CONTENT_KEY


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ("not base64!", "unreadable index"),
        (base64.b64encode(b'[{"sha256": "x"}]').decode(), "unreadable index"),
        (
            base64.b64encode(b'[{"sha256": "x", "size": 70000000}]').decode(),
            "names more than",
        ),
    ],
)
def test_an_index_that_is_not_one_is_refused(value: str, fault: str) -> None:
    config_map = {"metadata": {"name": "bpm-snapshot-x"}, "binaryData": {"parts.json": value}}
    with pytest.raises(ValueError, match=fault):
        snapshots.index_of(config_map)
