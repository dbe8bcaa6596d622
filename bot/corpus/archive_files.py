"""Finding and opening the data files of an X archive: a .zip, its folder, or one .js file.

Nothing is ever extracted to disk, so a hostile zip cannot write outside a folder (zip slip).
Every file is opened as a bounded stream: only regular files are read (a FIFO would hang, and
/dev/zero never ends), and a zip member stops being read as soon as it inflates past what its
directory declared, the limit for one file, or the limit for all files together (zip bomb).
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from bot.errors import UsageError

_MIB = 1 << 20

# tweets.js, tweet.js, tweets-part1.js, tweet-part2.js (but not deleted-tweets.js and kin).
_TWEETS_FILE = re.compile(r"^tweets?(?:-part(\d+))?\.js$")
_NOTES_FILE = re.compile(r"^note-tweets?(?:-part(\d+))?\.js$")
_DELETED_FILE = re.compile(r"^deleted-tweets?(?:-part(\d+))?\.js$")
# Grailbird (before 2019): data/js/tweets/2013_03.js, and data/js/user_details.js.
_GRAILBIRD_FILE = re.compile(r"^(\d{4})_(\d{2})\.js$")
_ACCOUNT_FILE = "account.js"
_GRAILBIRD_USER = "user_details.js"


class ArchiveError(UsageError):
    """The file given to `import` is not a readable X archive (exit 2; nothing imported)."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Size limits for what an import reads."""

    # The largest single data file; a 100,000-tweet tweets.js is about 150 MiB.
    max_file_bytes: int = 1024 * _MIB
    # All data files together, as inflated (not as the zip claims).
    max_total_bytes: int = 2048 * _MIB
    # Compressed JSON shrinks about 10x; a member that claims far more is a zip bomb.
    max_ratio: float = 100.0
    # Members this small may compress as well as they like; they cannot hurt (alone: the
    # ratio of all data files together is checked too, against a bomb of many small parts).
    ratio_exempt_bytes: int = _MIB
    # One entry of a data file; a tweet is a few KiB.
    max_entry_bytes: int = 16 * _MIB


DEFAULT_LIMITS = ArchiveLimits()


@dataclass
class Layout:
    """Which files of an archive hold what (paths relative to the archive, in part order)."""

    style: str  # "ytd" (2019 on), "grailbird" (before 2019) or "file" (one .js given alone)
    tweets: list[str] = field(default_factory=list)
    account: str | None = None
    notes: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def size_text(count: int) -> str:
    """A byte count for messages: MiB when large."""
    return f"{count / _MIB:.1f} MiB" if count >= _MIB else f"{count} bytes"


def _part(pattern: re.Pattern[str], name: str) -> int:
    match = pattern.match(name)
    return int(match.group(1) or 0) if match and match.groups() else 0


def _is_junk(path: PurePosixPath) -> bool:
    # macOS zips carry __MACOSX/._name resource forks beside every real file.
    return "__MACOSX" in path.parts or path.name.startswith("._")


def find_layout(names: list[str]) -> Layout | None:
    """The layout among an archive's file paths, or None when it holds no tweets."""
    paths = [PurePosixPath(n) for n in names]
    paths = [p for p in paths if not _is_junk(p)]
    ytd = [p for p in paths if _TWEETS_FILE.match(p.name)]
    if ytd:
        # Prefer a data/ folder, then the shallowest: other folders never hold the tweets.
        in_data = [p for p in ytd if p.parent.name == "data"] or ytd
        home = min((p.parent for p in in_data), key=lambda d: (len(d.parts), str(d)))
        here = [p for p in paths if p.parent == home]

        def named(pattern: re.Pattern[str]) -> list[str]:
            found = [p for p in here if pattern.match(p.name)]
            return [str(p) for p in sorted(found, key=lambda p: (_part(pattern, p.name), p.name))]

        # account.js beside the tweets, else anywhere (it only names the account).
        accounts = [str(p) for p in here if p.name == _ACCOUNT_FILE]
        accounts += sorted(str(p) for p in paths if p.name == _ACCOUNT_FILE and p.parent != home)
        return Layout(
            style="ytd",
            tweets=named(_TWEETS_FILE),
            account=accounts[0] if accounts else None,
            notes=named(_NOTES_FILE),
            deleted=named(_DELETED_FILE),
        )
    months = [
        p
        for p in paths
        if _GRAILBIRD_FILE.match(p.name)
        and p.parent.name == "tweets"
        and p.parent.parent.name == "js"
    ]
    if months:
        home = min((p.parent for p in months), key=lambda d: (len(d.parts), str(d)))
        users = [p for p in paths if p.parent == home.parent and p.name == _GRAILBIRD_USER]
        return Layout(
            style="grailbird",
            tweets=[str(p) for p in sorted(p for p in months if p.parent == home)],
            account=str(users[0]) if users else None,
        )
    return None


# ---- opening files -----------------------------------------------------------------------


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def refuse_unless_regular(path: Path, mode: int) -> None:
    """One clear line for anything `import` must not read as a file."""
    if not stat.S_ISREG(mode):
        raise ArchiveError(
            f"{path}: is {_kind_of(mode)}, not a regular file; give the archive .zip, "
            "its extracted folder or its tweets.js"
        )


def open_regular(path: Path, max_bytes: int | None) -> IO[bytes]:
    """Open a regular file for reading; FIFOs, devices and directories are refused unread."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        refuse_unless_regular(path, info.st_mode)
        if max_bytes is not None and info.st_size > max_bytes:
            raise ArchiveError(
                f"{path}: {size_text(info.st_size)}, over the "
                f"{size_text(max_bytes)} limit for one file"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _Budget:
    """Bytes left for all data files of one import together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


class _BoundedMember:
    """A zip member's stream that stops at its allowance, with zip errors as ArchiveError."""

    def __init__(self, member: IO[bytes], where: str, allowed: int, budget: _Budget) -> None:
        self._member = member
        self._where = where
        self._allowed = allowed
        self._size = 0
        self._budget = budget

    def read(self, size: int = -1) -> bytes:
        """Up to `size` inflated bytes (one chunk at most, never the whole member at once)."""
        try:
            chunk = self._member.read(size if size > 0 else _MIB)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ArchiveError(f"{self._where}: corrupt or truncated zip member ({exc})") from None
        except (RuntimeError, NotImplementedError) as exc:  # encrypted, unknown compression
            raise ArchiveError(f"{self._where}: cannot read this zip member ({exc})") from None
        self._size += len(chunk)
        self._budget.used += len(chunk)
        if self._size > self._allowed:
            raise ArchiveError(
                f"{self._where}: inflates past its declared size or the size limit "
                f"({size_text(self._allowed)}); refusing a possible zip bomb"
            )
        if self._budget.used > self._budget.limit:
            raise ArchiveError(
                f"{self._where}: the archive inflates past {size_text(self._budget.limit)} "
                "in total; refusing a possible zip bomb"
            )
        return chunk


class ArchiveFiles:
    """An archive opened for reading: its layout, and a bounded stream for each data file."""

    def __init__(self, path: Path, layout: Layout, zip_file: zipfile.ZipFile | None,
                 limits: ArchiveLimits) -> None:  # fmt: skip
        self.limits = limits
        self.path = path
        self.layout = layout
        self._zip = zip_file
        self._limits = limits
        self._budget = _Budget(limits.max_total_bytes)

    def label(self, name: str) -> str:
        """How messages name one data file: "archive.zip:data/tweets.js" or its path."""
        if self._zip is not None:
            return f"{self.path}:{name}"
        if self.layout.style == "file":
            return str(self.path)
        return str(self.path / name)

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        """A bounded binary stream of one data file."""
        if self._zip is None:
            path = self.path if self.layout.style == "file" else self.path / name
            with open_regular(path, self._limits.max_file_bytes) as file:
                yield file
            return
        info = self._zip.getinfo(name)
        allowed = min(self._limits.max_file_bytes, max(info.file_size, 0))
        try:
            member = self._zip.open(info)
        except (zipfile.BadZipFile, zlib.error, OSError) as exc:
            raise ArchiveError(f"{self.label(name)}: corrupt zip member ({exc})") from None
        except (RuntimeError, NotImplementedError) as exc:
            raise ArchiveError(f"{self.label(name)}: cannot read this zip member ({exc})") from None
        with member:
            yield _BoundedMember(member, self.label(name), allowed, self._budget)  # type: ignore[misc]


def _check_declared_sizes(path: Path, infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    """Refuse before reading anything when the zip's own directory already says too much."""
    for info in infos:
        where = f"{path}:{info.filename}"
        if info.file_size > limits.max_file_bytes:
            raise ArchiveError(
                f"{where}: {size_text(info.file_size)} uncompressed, over the "
                f"{size_text(limits.max_file_bytes)} limit for one file"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_exempt_bytes and ratio > limits.max_ratio:
            raise ArchiveError(
                f"{where}: compressed {ratio:.0f}:1, more than any real archive "
                f"(limit {limits.max_ratio:.0f}:1); refusing a possible zip bomb"
            )
    declared = sum(info.file_size for info in infos)
    ratio = declared / max(sum(info.compress_size for info in infos), 1)
    if declared > limits.ratio_exempt_bytes and ratio > limits.max_ratio:
        raise ArchiveError(
            f"{path}: data files compressed {ratio:.0f}:1 in total, more than any real archive "
            f"(limit {limits.max_ratio:.0f}:1); refusing a possible zip bomb"
        )
    if declared > limits.max_total_bytes:
        raise ArchiveError(
            f"{path}: data files are {size_text(declared)} uncompressed, over the "
            f"{size_text(limits.max_total_bytes)} limit"
        )


def _wanted(layout: Layout) -> list[str]:
    return [*layout.tweets, *([layout.account] if layout.account else []), *layout.notes,
            *layout.deleted]  # fmt: skip


def _folder_names(path: Path) -> list[str]:
    """Data file candidates of an extracted archive (given as its root, or as its data/)."""
    names = []
    for sub in ("", "data", "js", "js/tweets", "data/js", "data/js/tweets"):
        folder = path / sub if sub else path
        try:
            if not folder.is_dir():
                continue
            entries = list(folder.iterdir())
        except OSError as exc:
            raise ArchiveError(f"{folder}: cannot read ({exc.strerror})") from None
        # Every name counts, files or not: a FIFO or folder called tweets.js is refused later.
        names += [str(PurePosixPath(sub) / e.name) if sub else e.name for e in entries]
    return names


@contextmanager
def open_archive(
    path: Path | str, limits: ArchiveLimits = DEFAULT_LIMITS
) -> Iterator[ArchiveFiles]:
    """Open an archive given as a .zip, an extracted folder or one .js file."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ArchiveError(f"{path}: no such file or folder") from None
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        layout = find_layout(_folder_names(path))
        if layout is None:
            raise ArchiveError(
                f"{path}: no tweets.js here or in {path / 'data'}; is this an extracted X archive?"
            )
        declared = 0
        for name in layout.tweets:
            try:
                declared += (path / name).stat().st_size
            except OSError as exc:
                raise ArchiveError(f"{path / name}: cannot read ({exc.strerror})") from None
        # Sizes first, so a folder of huge files is refused before any is read.
        if declared > limits.max_total_bytes:
            raise ArchiveError(
                f"{path}: data files are {size_text(declared)}, over the "
                f"{size_text(limits.max_total_bytes)} limit"
            )
        yield ArchiveFiles(path, layout, None, limits)
        return
    refuse_unless_regular(path, mode)
    # A whole zip may be large (photos, videos); only the data files in it are bounded.
    with open_regular(path, None) as probe:
        is_zip = zipfile.is_zipfile(probe)
    if not is_zip and path.suffix.lower() != ".zip":
        yield ArchiveFiles(path, Layout(style="file", tweets=[path.name]), None, limits)
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(f"{path}: not a readable zip file ({exc})") from None
    with archive:
        infos = {info.filename: info for info in archive.infolist() if not info.is_dir()}
        layout = find_layout(list(infos))
        if layout is None:
            raise ArchiveError(
                f"{path}: no data/tweets.js in this zip; is it an X archive "
                "(Settings > Your account > Download an archive of your data)?"
            )
        _check_declared_sizes(path, [infos[n] for n in _wanted(layout)], limits)
        yield ArchiveFiles(path, layout, archive, limits)
