"""Snapshot ConfigMaps: content stored gzipped (or plain when that does not shrink it), read back
whole, checked against its sha256, and refused when it is not what its name promises."""

import base64
import gzip
import os

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
