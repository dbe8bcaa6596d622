"""Import of the official X archive: a .zip, its extracted folder, or a single tweets.js.

The archive keeps tweets in `data/tweets.js` as JavaScript, `window.YTD.tweets.part0 = [...]`
(older exports: `data/tweet.js` and `window.YTD.tweet.part0`; large ones add `tweets-part1.js`
and so on), and the account's username in `data/account.js`. Nothing is ever extracted to disk:
the members needed are read into memory under size limits, so a hostile zip can neither write
outside a folder (zip slip) nor fill memory (zip bomb). The rows are inserted in one transaction,
so a bad file anywhere means nothing is imported.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from bot.config import Config
from bot.corpus.rows import tweet_row
from bot.corpus.training import apply_rules
from bot.errors import UsageError
from bot.logging import get_logger
from bot.platform.base import Tweet, TweetKind
from bot.store import Store

log = get_logger(__name__)

# tweets.js, tweet.js, tweets-part1.js, tweet-part2.js (but not deleted-tweets.js and kin).
_TWEETS_FILE = re.compile(r"^tweets?(?:-part(\d+))?\.js$")
_ACCOUNT_FILE = "account.js"
_PREFIX = re.compile(r"\A\s*window\.YTD\.([A-Za-z_]+)\.part(\d+)\s*=\s*")
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_MIB = 1 << 20


class ArchiveError(UsageError):
    """The file given to `import` is not a readable X archive (exit 2; nothing imported)."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Size limits for what an import reads into memory."""

    # The largest single data file; a 100,000-tweet tweets.js is about 150 MiB.
    max_file_bytes: int = 1024 * _MIB
    # All data files together.
    max_total_bytes: int = 2048 * _MIB
    # Compressed JSON shrinks about 10x; a member that claims far more is a zip bomb.
    max_ratio: float = 100.0
    # Members this small may compress as well as they like; they cannot hurt.
    ratio_exempt_bytes: int = _MIB


DEFAULT_LIMITS = ArchiveLimits()


@dataclass
class ImportSummary:
    """What an import found and stored."""

    path: Path
    username: str
    files: list[str] = field(default_factory=list)
    found: int = 0
    new: int = 0

    def line(self) -> str:
        """The one summary line the CLI prints."""
        return (
            f"imported {self.new} new tweets of @{self.username} from {self.path} "
            f"({self.found} in the archive, {self.found - self.new} already stored)"
        )


@dataclass(frozen=True)
class _DataFile:
    name: str  # how errors name it: the path, or "archive.zip:data/tweets.js"
    data: bytes


# ---- reading the files -------------------------------------------------------------------


def _part_number(name: str) -> int:
    match = _TWEETS_FILE.match(name)
    return int(match.group(1) or 0) if match else 0


def _pick(names: list[str]) -> tuple[list[str], str | None]:
    """The tweet files (in part order) and the account file among archive member paths."""
    tweets = [n for n in names if _TWEETS_FILE.match(PurePosixPath(n).name)]
    accounts = [n for n in names if PurePosixPath(n).name == _ACCOUNT_FILE]
    # Prefer files under data/: other folders of an archive are never where tweets live.
    in_data = [n for n in tweets if PurePosixPath(n).parent.name == "data"]
    tweets = sorted(in_data or tweets, key=lambda n: (_part_number(PurePosixPath(n).name), n))
    return tweets, (accounts[0] if accounts else None)


def _read_zip(path: Path, limits: ArchiveLimits) -> tuple[list[_DataFile], _DataFile | None]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(f"{path}: not a readable zip file ({exc})") from None
    with archive:
        infos = {info.filename: info for info in archive.infolist() if not info.is_dir()}
        tweet_names, account_name = _pick(list(infos))
        if not tweet_names:
            raise ArchiveError(
                f"{path}: no data/tweets.js in this zip; is it an X archive "
                "(Settings > Your account > Download an archive of your data)?"
            )
        wanted = [infos[n] for n in tweet_names]
        if account_name:
            wanted.append(infos[account_name])
        _check_declared_sizes(path, wanted, limits)
        total = 0
        files = []
        for info in wanted:
            data = _read_member(path, archive, info, limits)
            total += len(data)
            if total > limits.max_total_bytes:
                raise ArchiveError(
                    f"{path}: data files exceed {_size(limits.max_total_bytes)} in total; "
                    "refusing to read more"
                )
            files.append(_DataFile(f"{path}:{info.filename}", data))
    account = files.pop() if account_name else None
    return files, account


def _check_declared_sizes(path: Path, infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    """Refuse before reading anything when the zip's own directory already says too much."""
    for info in infos:
        where = f"{path}:{info.filename}"
        if info.file_size > limits.max_file_bytes:
            raise ArchiveError(
                f"{where}: {_size(info.file_size)} uncompressed, over the "
                f"{_size(limits.max_file_bytes)} limit for one file"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_exempt_bytes and ratio > limits.max_ratio:
            raise ArchiveError(
                f"{where}: compressed {ratio:.0f}:1, more than any real archive "
                f"(limit {limits.max_ratio:.0f}:1); refusing a possible zip bomb"
            )
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_total_bytes:
        raise ArchiveError(
            f"{path}: data files are {_size(declared)} uncompressed, over the "
            f"{_size(limits.max_total_bytes)} limit"
        )


def _read_member(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits
) -> bytes:
    """Read one member in chunks, stopping as soon as it outgrows what it declared or the limit."""
    where = f"{path}:{info.filename}"
    # The directory's sizes can lie; what is actually inflated is what counts.
    allowed = min(limits.max_file_bytes, max(info.file_size, 0))
    chunks = []
    size = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(_MIB):
                size += len(chunk)
                if size > allowed:
                    raise ArchiveError(
                        f"{where}: inflates past its declared size ({_size(info.file_size)}) "
                        "or the size limit; refusing a possible zip bomb"
                    )
                chunks.append(chunk)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ArchiveError(f"{where}: corrupt or truncated zip member ({exc})") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, unknown compression
        raise ArchiveError(f"{where}: cannot read this zip member ({exc})") from None
    return b"".join(chunks)


def _read_plain(path: Path, limits: ArchiveLimits) -> _DataFile:
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise ArchiveError(
                f"{path}: {_size(size)}, over the {_size(limits.max_file_bytes)} limit for one file"
            )
        return _DataFile(str(path), path.read_bytes())
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read ({exc.strerror})") from None


def _read_folder(path: Path, limits: ArchiveLimits) -> tuple[list[_DataFile], _DataFile | None]:
    names = [
        str(p.relative_to(path).as_posix())
        for folder in (path, path / "data")
        if folder.is_dir()
        for p in folder.iterdir()
        if p.is_file()
    ]
    tweet_names, account_name = _pick(names)
    if not tweet_names:
        raise ArchiveError(
            f"{path}: no tweets.js here or in {path / 'data'}; is this an extracted X archive?"
        )
    # Sizes first, so a folder of huge files is refused before any is read.
    declared = sum((path / name).stat().st_size for name in tweet_names)
    if declared > limits.max_total_bytes:
        raise ArchiveError(
            f"{path}: data files are {_size(declared)}, over the "
            f"{_size(limits.max_total_bytes)} limit"
        )
    files = [_read_plain(path / name, limits) for name in tweet_names]
    account = _read_plain(path / account_name, limits) if account_name else None
    return files, account


def _size(count: int) -> str:
    return f"{count / _MIB:.1f} MiB" if count >= _MIB else f"{count} bytes"


# ---- parsing -----------------------------------------------------------------------------


def parse_ytd(file: _DataFile) -> list[Any]:
    """The JSON list inside a `window.YTD.<name>.partN = [...]` file (or a bare JSON list)."""
    try:
        text = file.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArchiveError(
            f"{file.name}: not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    match = _PREFIX.match(text)
    start = match.end() if match else len(text) - len(text.lstrip())
    if not match and not text[start:].startswith("["):
        raise ArchiveError(
            f"{file.name}: not an X archive data file (it should start with "
            "'window.YTD.tweets.part0 = [')"
        )
    body = text[start:].rstrip().removesuffix(";")
    try:
        items = json.loads(body)
    except json.JSONDecodeError as exc:
        if _ends_open(body):
            last_line = text.count("\n") + 1
            raise ArchiveError(
                f"{file.name}: truncated: the data ends at line {last_line} "
                "before the list is closed (an interrupted download or copy?)"
            ) from None
        offset = start + exc.pos
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        raise ArchiveError(
            f"{file.name}: malformed at line {line}, column {column} (offset {offset}): {exc.msg}"
        ) from None
    if not isinstance(items, list):
        raise ArchiveError(f"{file.name}: expected a list of entries, got {type(items).__name__}")
    return items


def _ends_open(body: str) -> bool:
    """Whether JSON text stops inside a string or an unclosed list/object: a cut-off file."""
    depth = 0
    in_string = escaped = False
    for char in body:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return in_string or depth > 0


def parse_created_at(value: str) -> datetime:
    """Archive time stamps such as "Wed Oct 10 20:19:24 +0000 2018" (locale-independent)."""
    parts = value.split()
    if len(parts) != 6 or parts[1] not in _MONTHS:
        raise ValueError(f"unrecognized time {value!r}")
    _weekday, month, day, clock, offset, year = parts
    hour, minute, second = (int(p) for p in clock.split(":"))
    moment = datetime(int(year), _MONTHS[month], int(day), hour, minute, second, tzinfo=UTC)
    sign = -1 if offset.startswith("-") else 1
    shift = sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60)
    return moment - timedelta(seconds=shift)


def _text_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def archive_tweet(entry: Any, username: str, author_id: str | None) -> Tweet:
    """One archive entry (`{"tweet": {...}}`, or the bare tweet of old exports) as a Tweet."""
    tweet = entry.get("tweet", entry) if isinstance(entry, dict) else None
    if not isinstance(tweet, dict):
        raise ValueError("an entry is not a tweet object")
    tweet_id = _text_id(tweet.get("id_str") or tweet.get("id"))
    if tweet_id is None or not tweet_id.isdigit():
        raise ValueError("no numeric id_str")
    text = tweet.get("full_text", tweet.get("text"))
    if not isinstance(text, str):
        raise ValueError(f"tweet {tweet_id} has no full_text")
    created = tweet.get("created_at")
    if not isinstance(created, str):
        raise ValueError(f"tweet {tweet_id} has no created_at")
    try:
        created_at = parse_created_at(created)
    except ValueError as exc:
        raise ValueError(f"tweet {tweet_id}: {exc}") from None
    retweeted = tweet.get("retweeted_status")
    reply_to = _text_id(
        tweet.get("in_reply_to_status_id_str") or tweet.get("in_reply_to_status_id")
    )
    quoted = _text_id(tweet.get("quoted_status_id_str") or tweet.get("quoted_status_id"))
    kind: TweetKind = "original"
    referenced = None
    if text.startswith("RT @") or isinstance(retweeted, dict):
        kind = "retweet"
        referenced = _text_id(retweeted.get("id_str")) if isinstance(retweeted, dict) else None
    elif reply_to:
        kind = "reply"
        referenced = reply_to
    elif quoted:
        kind = "quote"
        referenced = quoted
    entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
    urls = tuple(
        (str(u["url"]), str(u["expanded_url"]))
        for u in (entities or {}).get("urls") or []
        if isinstance(u, dict) and u.get("url") and u.get("expanded_url")
    )
    return Tweet(
        id=tweet_id,
        author_id=author_id or "",
        username=username,
        text=text,
        created_at=created_at,
        kind=kind,
        in_reply_to_id=reply_to,
        in_reply_to_user_id=_text_id(
            tweet.get("in_reply_to_user_id_str") or tweet.get("in_reply_to_user_id")
        ),
        referenced_id=referenced,
        urls=urls,
    )


def _account(file: _DataFile | None) -> tuple[str | None, str | None]:
    """(username, account id) from account.js, or (None, None)."""
    if file is None:
        return None, None
    items = parse_ytd(file)
    for item in items:
        account = item.get("account") if isinstance(item, dict) else None
        if isinstance(account, dict) and account.get("username"):
            return str(account["username"]), _text_id(account.get("accountId"))
    raise ArchiveError(f"{file.name}: no account username in it")


# ---- the import --------------------------------------------------------------------------


def read_archive(
    path: Path | str, *, limits: ArchiveLimits = DEFAULT_LIMITS
) -> tuple[list[tuple[str, list[Any]]], tuple[str | None, str | None]]:
    """Read and parse the tweet files of an archive: ([(file name, entries)], (user, id))."""
    path = Path(path)
    if not path.exists():
        raise ArchiveError(f"{path}: no such file or folder")
    if path.is_dir():
        files, account_file = _read_folder(path, limits)
    elif zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        files, account_file = _read_zip(path, limits)
    else:
        files, account_file = [_read_plain(path, limits)], None
    return [(f.name, parse_ytd(f)) for f in files], _account(account_file)


def _resolve_username(
    path: Path, explicit: str | None, from_account: str | None, config: Config | None
) -> str:
    if explicit:
        name = explicit.lstrip("@")
    elif from_account:
        name = from_account
    elif config is not None and len(config.source.usernames) == 1:
        name = config.source.usernames[0]
    else:
        raise ArchiveError(
            f"{path}: has no data/account.js naming the account; say whose tweets these are "
            "with --username NAME (or configure exactly one [source] usernames)"
        )
    if not _USERNAME.fullmatch(name):
        raise ArchiveError(f"{name!r} is not an X username")
    return name


def import_archive(
    store: Store,
    path: Path | str,
    *,
    username: str | None = None,
    config: Config | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> ImportSummary:
    """Import an X archive's tweets into the store: all of them in one transaction, or none.

    The account is `username` when given, else the one in data/account.js, else the single
    configured source. With `config`, the cleaning verdicts are recomputed afterwards.
    """
    path = Path(path)
    network_import = _network_importer(path)
    if network_import is not None:
        return network_import(store, path, username=username, config=config, limits=limits)
    parsed, (account_name, account_id) = read_archive(path, limits=limits)
    name = _resolve_username(path, username, account_name, config)
    # Another account's id would be wrong; without account.js we simply do not know it.
    author_id = account_id if account_name and account_name.lower() == name.lower() else None
    rows: dict[str, dict[str, Any]] = {}
    for file_name, entries in parsed:
        for number, entry in enumerate(entries, start=1):
            try:
                tweet = archive_tweet(entry, name, author_id)
            except ValueError as exc:
                raise ArchiveError(f"{file_name}: entry {number}: {exc}") from None
            rows.setdefault(tweet.id, tweet_row(tweet, origin="archive"))
    summary = ImportSummary(path=path, username=name, files=[f for f, _ in parsed])
    summary.found = len(rows)
    # One insert_tweets call is one transaction: all rows or none.
    summary.new = store.insert_tweets(rows.values())
    if config is not None:
        apply_rules(store, config)
    log.info(
        "imported archive", path=str(path), username=name, found=summary.found, new=summary.new
    )
    return summary


def _network_importer(path: Path) -> Any:
    """The importer of a Mastodon export (.zip with outbox.json) or a Bluesky repo (.car)."""
    from bot.corpus.import_bluesky import import_bluesky_repo, is_bluesky_repo
    from bot.corpus.import_mastodon import import_mastodon_archive, is_mastodon_archive

    if path.is_file() and is_bluesky_repo(path):
        return import_bluesky_repo
    if path.is_file() and is_mastodon_archive(path):
        return import_mastodon_archive
    return None
