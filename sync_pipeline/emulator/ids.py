"""Salesforce record ids: key prefixes, 15- and 18-character forms, and monotonic generation."""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
POD = "5e"


def _suffix(id15: str) -> str:
    out = []
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def to_18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character id (the API always answers with 18)."""
    if len(record_id) == 18:
        return record_id[:15] + _suffix(record_id[:15])
    return record_id + _suffix(record_id)


def normalize(value: str) -> str | None:
    """The canonical 18-character id, or None when the value is not an id at all."""
    if not isinstance(value, str) or not _ID_SHAPE.match(value):
        return None
    return to_18(value[:15])


def make_id(prefix: str, sequence: int) -> str:
    """Deterministic id number `sequence` of an object: prefix + pod + 10 base-62 digits + suffix."""
    digits = []
    n = sequence
    for _ in range(10):
        n, rem = divmod(n, 62)
        digits.append(_BASE62[rem])
    return to_18(prefix + POD + "".join(reversed(digits)))


def make_ids(prefix: str, start: int, count: int) -> list[str]:
    """``make_id(prefix, n)`` for n in start..start+count-1, computed column-wise (a million ids in a second)."""
    import numpy as np

    numbers = np.arange(start, start + count, dtype=np.int64)
    chars = np.empty((count, 18), dtype=np.uint8)
    head = (prefix + POD).encode()
    chars[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    alphabet = np.frombuffer(_BASE62.encode(), dtype=np.uint8)
    for position in range(14, 4, -1):
        numbers, remainder = np.divmod(numbers, 62)
        chars[:, position] = alphabet[remainder]
    upper = (chars[:, :15] >= ord("A")) & (chars[:, :15] <= ord("Z"))
    suffix_alphabet = np.frombuffer(_SUFFIX_ALPHABET.encode(), dtype=np.uint8)
    weights = 1 << np.arange(5)
    for chunk in range(3):
        bits = (upper[:, chunk * 5 : chunk * 5 + 5] * weights).sum(axis=1)
        chars[:, 15 + chunk] = suffix_alphabet[bits]
    return [value.decode() for value in chars.view("S18").ravel().tolist()]
