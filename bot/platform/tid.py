"""Record keys for Bluesky posts: a TID derived from the outbox row's idempotency key.

Post records live under a TID record key (AT Protocol "Record Key" spec, `tid` type): 13
characters of base32-sortable (`234567abcdefghijklmnopqrstuvwxyz`) encoding a 64-bit integer
whose top bit is 0, then 53 bits of microseconds since the Unix epoch, then a 10-bit clock id.
Deriving it from the key (instead of the clock) makes a retry land on the same record, and
reconciling a lookup of it (`getRecord`), so "never twice" holds by construction.

The timestamp bits come from a hash of the key, folded into a plausible window starting in
2023, so the TID is well-formed and parses as a real time; nothing orders posts by their rkey
(the AppView sorts by `createdAt`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID_LENGTH = 13
# The TID syntax from the spec: the first character carries the zero top bit.
TID_PATTERN = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")

_WINDOW_START_US = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
_WINDOW_BITS = 47  # about 4.5 years of microseconds
_CLOCK_BITS = 10


def encode_tid(value: int) -> str:
    """A 63-bit integer as a 13-character base32-sortable TID."""
    if not 0 <= value < 1 << 63:
        raise ValueError(f"a TID holds 63 bits (got {value})")
    chars = []
    for _ in range(TID_LENGTH):
        chars.append(TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode_tid(tid: str) -> int:
    """The integer a TID encodes; ValueError when `tid` is not a valid TID."""
    if not is_valid_tid(tid):
        raise ValueError(f"{tid!r} is not a valid TID")
    value = 0
    for char in tid:
        value = (value << 5) | TID_ALPHABET.index(char)
    return value


def is_valid_tid(text: str) -> bool:
    """Whether `text` has the TID syntax."""
    return bool(TID_PATTERN.fullmatch(text))


def tid_time(tid: str) -> datetime:
    """The moment a TID's timestamp bits name."""
    return datetime.fromtimestamp((decode_tid(tid) >> _CLOCK_BITS) / 1_000_000, UTC)


def tid_for_key(key: str) -> str:
    """The record key a post sent under idempotency key `key` is created with.

    Deterministic (the same key always gives the same TID) and distinct per key up to a
    57-bit hash collision.
    """
    if not key:
        raise ValueError("an idempotency key must not be empty")
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    micros = _WINDOW_START_US + (digest >> (64 - _WINDOW_BITS))
    clock_id = digest & ((1 << _CLOCK_BITS) - 1)
    return encode_tid((micros << _CLOCK_BITS) | clock_id)
