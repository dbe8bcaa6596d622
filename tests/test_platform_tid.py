"""Record keys derived from outbox keys: valid TIDs, deterministic, distinct per key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from atproto_client.models.string_formats import TID_RE

from bot.platform.tid import decode_tid, encode_tid, is_valid_tid, tid_for_key, tid_time


def test_a_derived_key_is_a_tid_as_atproto_validates_it() -> None:
    for key in ["post-1", "reply-77-abc", "é ünïcode ☃", "x" * 500]:
        tid = tid_for_key(key)
        assert len(tid) == 13
        assert TID_RE.match(tid), tid
        assert is_valid_tid(tid)


def test_the_same_key_gives_the_same_tid_and_different_keys_differ() -> None:
    assert tid_for_key("post-42") == tid_for_key("post-42")
    tids = {tid_for_key(f"post-{n}") for n in range(20_000)}
    assert len(tids) == 20_000


def test_the_timestamp_bits_name_a_plausible_moment() -> None:
    moment = tid_time(tid_for_key("post-1"))
    assert datetime(2023, 1, 1, tzinfo=UTC) <= moment < datetime(2028, 1, 1, tzinfo=UTC)


def test_encoding_round_trips_and_rejects_what_is_not_a_tid() -> None:
    for value in [0, 1, 2**62 + 12345, 2**63 - 1]:
        assert decode_tid(encode_tid(value)) == value
    with pytest.raises(ValueError):
        encode_tid(2**63)
    for bad in ["", "3jzfcijpj2z2", "kjzfcijpj2z2a", "3jzfcijpj2z2A", "3jzfcijpj2z21"]:
        assert not is_valid_tid(bad)
        with pytest.raises(ValueError):
            decode_tid(bad)
    with pytest.raises(ValueError):
        tid_for_key("")
