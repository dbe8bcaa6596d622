"""The streaming reader of archive .js files, with reads so small every entry spans several."""

from __future__ import annotations

import io
import json

import pytest

import bot.corpus.jsstream as jsstream
from bot.corpus.jsstream import DataFileError, DataStream

ENTRIES = [
    {"tweet": {"id_str": str(i), "full_text": "é \\u00e9 ☃ 🐦 x" * i, "n": 12345.5, "k": [i]}}
    for i in range(30)
]
TEXT = "window.YTD.tweets.part0 = " + json.dumps(ENTRIES, indent=2, ensure_ascii=False) + ";\n"


@pytest.fixture(autouse=True)
def tiny_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsstream, "_CHUNK", 7)


def _entries(text: str | bytes) -> list[object]:
    data = text.encode() if isinstance(text, str) else text
    return list(DataStream(io.BytesIO(data), "t.js").entries())


def test_entries_across_reads_come_back_whole() -> None:
    assert _entries(TEXT) == ENTRIES
    assert _entries("\ufeff" + TEXT) == ENTRIES  # a byte-order mark is fine
    assert _entries("[]") == []
    stream = DataStream(io.BytesIO(b"Grailbird.data.tweets_2013_03 = \n[ ]"), "g.js")
    assert (stream.variable, list(stream.entries())) == ("tweets_2013_03", [])
    single = DataStream(io.BytesIO(b'var user_details =  {\n  "screen_name" : "a"\n}'), "u.js")
    assert (single.variable, single.value()) == ("user_details", {"screen_name": "a"})


def test_errors_name_the_line_and_column_or_say_truncated() -> None:
    with pytest.raises(DataFileError, match=r"^t\.js: malformed at line 6, column 7: Expecting"):
        _entries(TEXT.replace('"n"', "n", 1))
    # Bad JSON at the very end of a file read in many pieces is malformed, not truncated.
    with pytest.raises(DataFileError, match=r"malformed at line \d+, column 3"):
        _entries(TEXT[:-30] + "}}, {,} ]")
    for cut in (len(TEXT) // 3, len(TEXT) // 2, len(TEXT) - 4):
        with pytest.raises(DataFileError, match=r"truncated: the data ends at line \d+"):
            _entries(TEXT[:cut])
    with pytest.raises(DataFileError, match=r"not UTF-8 text \(bad byte at offset 40\)"):
        _entries(TEXT.encode()[:40] + b"\xff" + TEXT.encode()[40:])
    with pytest.raises(DataFileError, match=r"expected ',' or '\]' after an entry"):
        _entries("[1 2]")
