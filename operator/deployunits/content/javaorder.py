"""The order in which Java's hash maps and sets iterate string keys, for answers the engines
write from them (Xerces' dangling IDREFs, jBPM's process variables)."""

from collections.abc import Iterable


def hash_order(keys: Iterable[str]) -> list[str]:
    """Distinct keys, given in insertion order, in the order a java.util.HashMap (or HashSet)
    holding them iterates: by bucket (String.hashCode, spread, masked by the table's
    power-of-two capacity: at least 16, at most 3/4 full), then as inserted (resizing keeps
    that order within a bucket). Buckets long enough for Java to turn into trees (8 keys in
    one bucket of a table of 64 or more) are not modelled."""
    distinct = list(dict.fromkeys(keys))
    capacity = 16
    while len(distinct) > capacity * 3 // 4:
        capacity *= 2

    def bucket(key: str) -> int:
        h = 0
        units = key.encode("utf-16-be")  # Java hashes UTF-16 code units
        for i in range(0, len(units), 2):
            h = (31 * h + int.from_bytes(units[i : i + 2], "big")) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)

    return sorted(distinct, key=bucket)
