"""Stream the JSON list inside an archive's `.js` data files, one entry at a time.

X archives wrap their JSON in JavaScript: `window.YTD.tweets.part0 = [...]` (and the Grailbird
exports before 2019: `Grailbird.data.tweets_2013_03 = [...]`). A tweets.js can be hundreds of
megabytes, so the list is never loaded whole: each entry is decoded on its own with the standard
library's C decoder (`JSONDecoder.raw_decode` on a sliding buffer), and memory stays at one read
chunk plus one entry, whatever the file's size. The stdlib decoder (rather than ijson) also turns
hostile nesting into a RecursionError we can name, where ijson's yajl backend builds a prefix
string per level: 40,000 nested brackets (80 KB) took it 6.6 s and 3.9 GB (bench/bench_import.py
compares the parsers on a 200 MB file).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from bot.errors import UsageError

_MIB = 1 << 20
_CHUNK = _MIB
# `window.YTD.<name>.partN =`, `Grailbird.data.<name> =` or `var <name> =`.
_PREFIX = re.compile(
    r"\A\s*(?:window\.YTD\.(?P<ytd>[A-Za-z_]+)\.part\d+"
    r"|Grailbird\.data\.(?P<grailbird>[A-Za-z0-9_]+)"
    r"|var\s+(?P<var>[A-Za-z_][A-Za-z0-9_]*))\s*=\s*"
)
_SPACE = " \t\r\n"
# How much of a file's start is read to find its variable name.
_HEAD_CHARS = 4096


class DataFileError(UsageError):
    """A data file inside an archive is not what it should be (exit 2; nothing imported)."""


@dataclass(frozen=True)
class StreamLimits:
    """Bounds on one entry, so a single hostile entry cannot fill memory."""

    max_entry_bytes: int = 16 * _MIB


class DataStream:
    """The entries of one `.js` data file, read lazily from a binary file object.

    `variable` is the JavaScript name the file assigns (`tweets`, `deleted_tweets`,
    `tweets_2013_03`, ...), known as soon as the stream is made; `entries()` yields the list.
    """

    def __init__(self, file: IO[bytes], name: str, limits: StreamLimits | None = None) -> None:
        self.name = name
        self._file = file
        self._limits = limits or StreamLimits()
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._bytes_read = 0
        self._eof = False
        self._buf = ""
        self._pos = 0
        # Where the buffer starts in the whole text: for line/column in error messages.
        self._line_base = 1
        self._column_base = 0  # characters of the current line already dropped from the buffer
        self._fill_until(_HEAD_CHARS)
        match = _PREFIX.match(self._buf)
        self.variable = ""
        if match:
            self.variable = match.group("ytd") or match.group("grailbird") or match.group("var")
            self._pos = match.end()
        else:
            self._skip_space()
            if not self._buf.startswith(("[", "{"), self._pos):
                raise DataFileError(
                    f"{name}: not an X archive data file (it should start with "
                    "'window.YTD.tweets.part0 = [')"
                )

    # ---- reading --------------------------------------------------------------------------

    def _read_more(self) -> bool:
        """Append one chunk to the buffer (dropping what was consumed); False at the end."""
        if self._eof:
            return False
        chunk = self._file.read(_CHUNK)
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            offset = self._bytes_read + exc.start
            raise DataFileError(
                f"{self.name}: not UTF-8 text (bad byte at offset {offset})"
            ) from None
        self._bytes_read += len(chunk)
        if not chunk:
            self._eof = True
        self._compact()
        self._buf += text
        return bool(chunk) or bool(text)

    def _compact(self) -> None:
        """Forget the consumed part of the buffer, keeping count of its lines."""
        if not self._pos:
            return
        dropped = self._buf[: self._pos]
        lines = dropped.count("\n")
        if lines:
            self._line_base += lines
            self._column_base = len(dropped) - dropped.rfind("\n") - 1
        else:
            self._column_base += len(dropped)
        self._buf = self._buf[self._pos :]
        self._pos = 0

    def _fill_until(self, chars: int) -> None:
        while len(self._buf) - self._pos < chars and self._read_more():
            pass

    def _skip_space(self) -> None:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _SPACE:
                self._pos += 1
            if self._pos < len(self._buf) or not self._read_more():
                return

    def _peek(self) -> str:
        self._skip_space()
        return self._buf[self._pos] if self._pos < len(self._buf) else ""

    def _where(self, pos: int) -> str:
        line = self._line_base + self._buf.count("\n", 0, pos)
        newline = self._buf.rfind("\n", 0, pos)
        column = pos - newline if newline >= 0 else self._column_base + pos + 1
        return f"line {line}, column {column}"

    def _malformed(self, pos: int, message: str) -> DataFileError:
        return DataFileError(f"{self.name}: malformed at {self._where(pos)}: {message}")

    def _truncated(self) -> DataFileError:
        line = self._line_base + self._buf.count("\n")
        return DataFileError(
            f"{self.name}: truncated: the data ends at line {line} "
            "before the list is closed (an interrupted download or copy?)"
        )

    # ---- decoding -------------------------------------------------------------------------

    def _value(self, number: int) -> Any:
        """Decode the JSON value at the current position, reading more while it is incomplete."""
        decoder = json.JSONDecoder()
        while True:
            try:
                value, end = decoder.raw_decode(self._buf, self._pos)
            except RecursionError:
                raise DataFileError(
                    f"{self.name}: entry {number} is nested too deeply to be a tweet"
                ) from None
            except json.JSONDecodeError as exc:
                if self._eof:
                    if _cut_at_end(exc, self._buf):
                        raise self._truncated() from None
                    raise self._malformed(exc.pos, exc.msg) from None
                if not _maybe_incomplete(exc, len(self._buf)):
                    raise self._malformed(exc.pos, exc.msg) from None
                if len(self._buf) - self._pos > self._limits.max_entry_bytes:
                    raise DataFileError(
                        f"{self.name}: entry {number} is over "
                        f"{_size(self._limits.max_entry_bytes)}; no tweet is that large"
                    ) from None
                # At the end of the data the next round decides: truncated, or malformed.
                self._read_more()
                continue
            # A value that ends exactly at the buffer's end may be a number cut in two.
            if end - self._pos > self._limits.max_entry_bytes:
                raise DataFileError(
                    f"{self.name}: entry {number} is over "
                    f"{_size(self._limits.max_entry_bytes)}; no tweet is that large"
                )
            cut = end == len(self._buf) and not self._eof and isinstance(value, int | float)
            if cut and self._read_more():
                continue
            self._pos = end
            return value

    def entries(self) -> Iterator[Any]:
        """Yield each element of the file's top-level list; errors name the file and position."""
        first = self._peek()
        if first == "{":
            raise DataFileError(f"{self.name}: expected a list of entries, got an object")
        if first != "[":
            if not first:
                raise self._truncated()
            raise self._malformed(self._pos, "expected '['")
        self._pos += 1
        number = 0
        if self._peek() == "]":
            self._pos += 1
        else:
            while True:
                if not self._peek():
                    raise self._truncated()
                number += 1
                yield self._value(number)
                after = self._peek()
                if after == ",":
                    self._pos += 1
                    continue
                if after == "]":
                    self._pos += 1
                    break
                if not after:
                    raise self._truncated()
                raise self._malformed(self._pos, "expected ',' or ']' after an entry")
        self._check_rest()

    def value(self) -> Any:
        """The whole value the file assigns (small files such as user_details.js)."""
        if not self._peek():
            raise self._truncated()
        found = self._value(1)
        self._check_rest()
        return found

    def _check_rest(self) -> None:
        """After the list only an optional `;` and white space may follow."""
        while True:
            rest = self._buf[self._pos :].lstrip(_SPACE + ";")
            if rest:
                raise self._malformed(len(self._buf) - len(rest), "extra data after the list")
            self._pos = len(self._buf)
            if not self._read_more():
                return


def _maybe_incomplete(exc: json.JSONDecodeError, buffered: int) -> bool:
    """Whether a decode error could be the buffer ending mid-value rather than bad JSON."""
    # A cut string is reported where it starts; every other cut is reported at (or just before,
    # for a cut escape such as "\\u12") the end of the buffer.
    return exc.msg.startswith("Unterminated string") or exc.pos >= buffered - 12


def _cut_at_end(exc: json.JSONDecodeError, text: str) -> bool:
    """At the end of the data: whether the error is the data stopping, not bad JSON."""
    return exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip(_SPACE))


def _size(count: int) -> str:
    return f"{count / _MIB:.1f} MiB" if count >= _MIB else f"{count} bytes"
