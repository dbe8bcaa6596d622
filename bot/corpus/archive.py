"""Import of the official X archive: a .zip, its extracted folder, or a single tweets.js.

Archives since 2019 keep tweets in `data/tweets.js` as `window.YTD.tweets.part0 = [...]` (older
exports: `data/tweet.js`; large ones add `tweets-part1.js` and so on), the username in
`data/account.js`, the full text of long posts in `data/note-tweet.js` and tweets their owner
deleted in `data/deleted-tweets.js` (never imported). Exports before 2019 ("Grailbird") keep one
`data/js/tweets/YYYY_MM.js` per month and the username in `data/js/user_details.js`.

The tweets are streamed: `archive_rows` yields one validated row at a time and raises a clean
`ArchiveError` at the first bad entry, so the store's single `insert_tweets` call (one
transaction) stores all of an archive or none of it, and memory does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.corpus.archive_files import (
    DEFAULT_LIMITS,
    ArchiveError,
    ArchiveFiles,
    ArchiveLimits,
    open_archive,
)
from bot.corpus.jsstream import DataFileError, DataStream, StreamLimits
from bot.corpus.notes import NoteIndex, NoteTweet, note_from_entry
from bot.corpus.rows import tweet_row
from bot.corpus.training import apply_rules
from bot.logging import get_logger
from bot.platform.base import Tweet, TweetKind
from bot.store import Store

__all__ = [
    "DEFAULT_LIMITS",
    "ArchiveError",
    "ArchiveLimits",
    "ImportSummary",
    "archive_rows",
    "archive_tweet",
    "import_archive",
    "parse_created_at",
]

log = get_logger(__name__)

_USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# The JavaScript names of the files that hold tweets (YTD) or a month of them (Grailbird).
_TWEET_VARIABLES = ("tweet", "tweets")
# Archive files that look like tweets but must not be imported as such, and why.
_NOT_TWEETS = {
    "deleted_tweets": (
        "deleted-tweets.js, the tweets their owner deleted; they are never imported "
        "(give the archive's .zip, its folder or its tweets.js)"
    ),
    "note_tweet": (
        "note-tweet.js, only the full text of long posts; give the whole archive (.zip or "
        "folder) so each long post joins its tweet"
    ),
    "tweet_headers": (
        "tweet-headers.js, ids and dates without any text; give the archive's .zip, its "
        "folder or its tweets.js"
    ),
}


@dataclass
class ImportSummary:
    """What an import found and stored."""

    path: Path
    username: str
    files: list[str] = field(default_factory=list)
    found: int = 0
    new: int = 0
    long_posts: int = 0
    deleted_skipped: int = 0

    def line(self) -> str:
        """The one summary line the CLI prints."""
        return (
            f"imported {self.new} new tweets of @{self.username} from {self.path} "
            f"({self.found} in the archive, {self.found - self.new} already stored)"
        )


# ---- one tweet ---------------------------------------------------------------------------


def parse_created_at(value: str) -> datetime:
    """Archive time stamps: "Wed Oct 10 20:19:24 +0000 2018", or Grailbird's
    "2013-03-01 12:34:56 +0000" (both locale-independent)."""
    parts = value.split()
    try:
        if len(parts) == 3 and parts[0][:4].isdigit():
            moment = datetime.strptime(f"{parts[0]} {parts[1]}", "%Y-%m-%d %H:%M:%S")
            return _shifted(moment.replace(tzinfo=UTC), parts[2])
        if len(parts) != 6 or parts[1] not in _MONTHS:
            raise ValueError
        _weekday, month, day, clock, offset, year = parts
        hour, minute, second = (int(p) for p in clock.split(":"))
        moment = datetime(int(year), _MONTHS[month], int(day), hour, minute, second, tzinfo=UTC)
        return _shifted(moment, offset)
    except ValueError:
        raise ValueError(f"unrecognized time {value!r}") from None


def _shifted(moment: datetime, offset: str) -> datetime:
    if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
        raise ValueError
    sign = -1 if offset.startswith("-") else 1
    return moment - timedelta(seconds=sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60))


def _text_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _tweet_id(value: Any) -> str:
    """A tweet id as ASCII digits ("²³¹" passes str.isdigit() but is no id)."""
    text = _text_id(value)
    if text is None:
        raise ValueError("no numeric id_str")
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise ValueError(f"id {text!r} is not a tweet id (ASCII digits)")
    return text


def archive_tweet(
    entry: Any, username: str, author_id: str | None, notes: NoteIndex | None = None
) -> Tweet:
    """One archive entry (`{"tweet": {...}}`, or the bare tweet of old exports) as a Tweet.

    A long post's cut text is replaced by its full text from `notes`, when it has one there.
    """
    tweet = entry.get("tweet", entry) if isinstance(entry, dict) else None
    if not isinstance(tweet, dict):
        raise ValueError("an entry is not a tweet object")
    tweet_id = _tweet_id(tweet.get("id_str") or tweet.get("id"))
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
    note = notes.note_for(tweet_id, text) if notes is not None and kind != "retweet" else None
    if note is not None:
        text, urls = _full_text(text, note), note.urls
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


def _full_text(cut: str, note: NoteTweet) -> str:
    """The note's text, after the @handles a reply opens with (notes leave those out)."""
    handles = []
    for word in cut.split():
        if not word.startswith("@"):
            break
        handles.append(word)
    lead = " ".join(h for h in handles if h not in note.text.split()[: len(handles)])
    return f"{lead} {note.text}" if lead else note.text


# ---- the files ---------------------------------------------------------------------------


def _stream(files: ArchiveFiles, file: Any, name: str) -> DataStream:
    return DataStream(file, files.label(name), StreamLimits(files.limits.max_entry_bytes))


def _refuse_lone_non_tweets(files: ArchiveFiles, variable: str) -> None:
    """A file given alone must hold tweets; the archive's other files get a named refusal."""
    label = files.label(files.layout.tweets[0])
    by_name = Path(label).name.replace("-", "_").removesuffix(".js")
    for key, what in _NOT_TWEETS.items():
        if by_name.startswith(key) or variable == key:
            raise ArchiveError(f"{label}: this is {what}")
    if variable and variable not in _TWEET_VARIABLES and not variable.startswith("tweets_"):
        raise ArchiveError(
            f"{label}: this is X's {variable!r} data, not tweets; give the archive's .zip, "
            "its folder or its tweets.js"
        )


def _account(files: ArchiveFiles) -> tuple[str | None, str | None]:
    """(username, account id) from account.js or Grailbird's user_details.js, or (None, None)."""
    name = files.layout.account
    if name is None:
        return None, None
    with files.open(name) as file:
        stream = _stream(files, file, name)
        if files.layout.style == "grailbird":
            details = stream.value()
            if isinstance(details, dict) and details.get("screen_name"):
                return str(details["screen_name"]), _text_id(details.get("id"))
        else:
            for item in stream.entries():
                account = item.get("account") if isinstance(item, dict) else None
                if isinstance(account, dict) and account.get("username"):
                    return str(account["username"]), _text_id(account.get("accountId"))
    raise ArchiveError(f"{files.label(name)}: no account username in it")


def _notes(files: ArchiveFiles) -> NoteIndex:
    notes = []
    for name in files.layout.notes:
        with files.open(name) as file:
            for number, entry in enumerate(_stream(files, file, name).entries(), start=1):
                try:
                    notes.append(note_from_entry(entry))
                except ValueError as exc:
                    raise ArchiveError(f"{files.label(name)}: entry {number}: {exc}") from None
    return NoteIndex(notes)


def _deleted_ids(files: ArchiveFiles) -> set[str]:
    """Ids in deleted-tweets.js: never imported, even should tweets.js still hold them."""
    ids: set[str] = set()
    for name in files.layout.deleted:
        with files.open(name) as file:
            for entry in _stream(files, file, name).entries():
                tweet = entry.get("tweet", entry) if isinstance(entry, dict) else None
                if isinstance(tweet, dict) and tweet.get("id_str"):
                    ids.add(str(tweet["id_str"]))
    return ids


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
    if not (1 <= len(name) <= 15 and set(name) <= _USERNAME_CHARS):
        raise ArchiveError(f"{name!r} is not an X username")
    return name


def archive_rows(
    files: ArchiveFiles, summary: ImportSummary, username: str | None, config: Config | None
) -> Iterator[dict[str, Any]]:
    """The archive's tweets as store rows, validated one by one, each id once.

    Counts go into `summary` as the rows are yielded; the first bad entry raises ArchiveError,
    so a consumer inside one transaction stores nothing of a bad archive.
    """
    layout = files.layout
    if layout.style == "file":
        # Read the variable name before anything else, to refuse the wrong file in one line.
        with files.open(layout.tweets[0]) as probe:
            _refuse_lone_non_tweets(files, _stream(files, probe, layout.tweets[0]).variable)
    account_name, account_id = _account(files)
    name = _resolve_username(files.path, username, account_name, config)
    summary.username = name
    # Another account's id would be wrong; without account.js we simply do not know it.
    author_id = account_id if account_name and account_name.lower() == name.lower() else None
    notes = _notes(files)
    deleted = _deleted_ids(files)
    seen: set[str] = set()
    for file_name in layout.tweets:
        label = files.label(file_name)
        summary.files.append(label)
        with files.open(file_name) as file:
            for number, entry in enumerate(_stream(files, file, file_name).entries(), start=1):
                try:
                    tweet = archive_tweet(entry, name, author_id, notes)
                except ValueError as exc:
                    raise ArchiveError(f"{label}: entry {number}: {exc}") from None
                if tweet.id in deleted:
                    summary.deleted_skipped += 1
                    continue
                if tweet.id in seen:
                    continue
                seen.add(tweet.id)
                summary.found += 1
                summary.long_posts = notes.joined
                yield tweet_row(tweet, origin="archive")


def import_archive(
    store: Store,
    path: Path | str,
    *,
    username: str | None = None,
    config: Config | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> ImportSummary:
    """Import an X archive's tweets into the store: all of them in one transaction, or none.

    The account is `username` when given, else the one in account.js (or Grailbird's
    user_details.js), else the single configured source. With `config`, the cleaning verdicts
    are recomputed afterwards.
    """
    path = Path(path)
    network_import = _network_importer(path)
    if network_import is not None:
        return network_import(store, path, username=username, config=config, limits=limits)
    summary = ImportSummary(path=path, username=username or "")
    try:
        with open_archive(path, limits) as files:
            # The account is read before the first row, so a missing --username stores nothing.
            rows = archive_rows(files, summary, username, config)
            first = next(rows, None)
            if first is not None:
                summary.new = store.insert_tweets(_chain(first, rows))
    except DataFileError as exc:
        raise ArchiveError(str(exc)) from None
    if config is not None:
        apply_rules(store, config)
    log.info(
        "imported archive",
        path=str(path),
        username=summary.username,
        found=summary.found,
        new=summary.new,
        long_posts=summary.long_posts,
    )
    return summary


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def _network_importer(path: Path) -> Any:
    """The importer of a Mastodon export (.zip with outbox.json) or a Bluesky repo (.car)."""
    from bot.corpus.import_bluesky import import_bluesky_repo, is_bluesky_repo
    from bot.corpus.import_mastodon import import_mastodon_archive, is_mastodon_archive

    if path.is_file() and is_bluesky_repo(path):
        return import_bluesky_repo
    if path.is_file() and is_mastodon_archive(path):
        return import_mastodon_archive
    return None
