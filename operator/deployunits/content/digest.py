"""The content digest that addresses resources everywhere: snapshots, statuses, drift checks."""

import hashlib


def sha256_hex(content: bytes) -> str:
    """The hex sha256 of content (what names a snapshot and identifies a resource's bytes)."""
    return hashlib.sha256(content).hexdigest()
