"""Import a Mastodon archive (the export .zip): `outbox.json`'s Create/Note activities.

The export holds `actor.json` (the account: `preferredUsername`, its `id` URI) and `outbox.json`,
an ActivityStreams `OrderedCollection` whose `orderedItems` are `Create` activities (their
`object` a `Note` with HTML `content`, `published`, `inReplyTo`) and `Announce` activities
(boosts, kept as `retweet` rows so the rules drop them like retweets). Each Note's `id` URI is
the row id, the same one a fetch through the API stores, so both meet in one row.
"""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.config import Config, source_network
from bot.corpus.archive import ArchiveError, ArchiveLimits, ImportSummary
from bot.corpus.fetch_network import insert_network_rows, network_row
from bot.corpus.training import apply_rules
from bot.logging import get_logger
from bot.platform.base import Tweet, TweetKind
from bot.platform.htmltext import html_to_text
from bot.store import Store

log = get_logger(__name__)

OUTBOX = "outbox.json"
ACTOR = "actor.json"


def is_mastodon_archive(path: Path) -> bool:
    """Whether `path` is a zip with an outbox.json (a Mastodon export)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(Path(n).name == OUTBOX for n in archive.namelist())


def _member(archive: zipfile.ZipFile, path: Path, name: str, limits: ArchiveLimits) -> Any:
    matches = [i for i in archive.infolist() if Path(i.filename).name == name]
    if not matches:
        return None
    info = min(matches, key=lambda i: i.filename.count("/"))  # the top-level one
    if info.file_size > limits.max_file_bytes:
        raise ArchiveError(f"{path}:{info.filename}: too large to import")
    ratio = info.file_size / info.compress_size if info.compress_size else 0.0
    if info.file_size > limits.ratio_exempt_bytes and ratio > limits.max_ratio:
        raise ArchiveError(f"{path}:{info.filename}: refusing a possible zip bomb")
    with archive.open(info) as handle:
        data = handle.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise ArchiveError(f"{path}:{info.filename}: too large to import")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ArchiveError(f"{path}:{info.filename}: not valid JSON ({exc})") from None


def _account(actor: Any, path: Path) -> tuple[str | None, str | None]:
    """(USER@INSTANCE, actor URI) from actor.json, when present."""
    if not isinstance(actor, dict):
        return None, None
    uri = str(actor.get("id") or "")
    user = str(actor.get("preferredUsername") or "")
    host = urlsplit(uri).netloc
    return (f"{user}@{host}" if user and host else None), (uri or None)


def _when(value: Any, where: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ArchiveError(f"{where}: bad `published` {value!r}") from None


def _tweet(item: Any, username: str, author: str, where: str) -> Tweet | None:
    if not isinstance(item, dict):
        raise ArchiveError(f"{where}: not an activity object")
    kind = item.get("type")
    obj = item.get("object")
    if kind == "Announce":
        target = obj if isinstance(obj, str) else (obj or {}).get("id")
        return Tweet(
            id=str(item.get("id") or f"announce:{target}"),
            author_id=author,
            username=username,
            text="",
            created_at=_when(item.get("published"), where),
            kind="retweet",
            referenced_id=str(target) if target else None,
            network="mastodon",
        )
    if kind != "Create" or not isinstance(obj, dict) or obj.get("type") != "Note":
        return None  # likes, polls' votes, deletions: not the account's own words
    if not obj.get("id"):
        raise ArchiveError(f"{where}: a Note without `id`")
    reply_to = obj.get("inReplyTo")
    note_kind: TweetKind = "reply" if reply_to else "original"
    return Tweet(
        id=str(obj["id"]),
        author_id=author,
        username=username,
        text=html_to_text(str(obj.get("content") or "")),
        created_at=_when(obj.get("published") or item.get("published"), where),
        kind=note_kind,
        in_reply_to_id=str(reply_to) if reply_to else None,
        network="mastodon",
    )


def _resolve(path: Path, explicit: str | None, found: str | None, config: Config | None) -> str:
    if explicit:
        name = explicit.removeprefix("mastodon:").lstrip("@")
    elif found:
        name = found
    else:
        configured = [
            n
            for n in (config.source.usernames if config else [])
            if source_network(n) == "mastodon"
        ]
        if len(configured) != 1:
            raise ArchiveError(
                f"{path}: has no actor.json naming the account; say whose posts these are with "
                "--username mastodon:USER@INSTANCE"
            )
        name = configured[0].removeprefix("mastodon:")
    if "@" not in name:
        raise ArchiveError(f"{name!r} is not a Mastodon account USER@INSTANCE")
    return f"mastodon:{name}"


def import_mastodon_archive(
    store: Store,
    path: Path,
    *,
    username: str | None = None,
    config: Config | None = None,
    limits: ArchiveLimits,
) -> ImportSummary:
    """Import a Mastodon export's posts: all in one transaction, or none."""
    try:
        with zipfile.ZipFile(path) as archive:
            outbox = _member(archive, path, OUTBOX, limits)
            actor = _member(archive, path, ACTOR, limits)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{path}: not a readable zip ({exc})") from None
    items = outbox.get("orderedItems") if isinstance(outbox, dict) else None
    if not isinstance(items, list):
        raise ArchiveError(f"{path}:{OUTBOX}: no `orderedItems` list (not a Mastodon outbox)")
    found_name, actor_uri = _account(actor, path)
    name = _resolve(path, username, found_name, config)
    rows: dict[str, dict[str, Any]] = {}
    for number, item in enumerate(items, start=1):
        tweet = _tweet(item, name, actor_uri or "", f"{OUTBOX}: item {number}")
        if tweet is not None:
            rows.setdefault(tweet.id, network_row(tweet, origin="archive"))
    summary = ImportSummary(path=path, username=name, files=[OUTBOX])
    summary.found = len(rows)
    summary.new = insert_network_rows(store, rows.values())
    if config is not None:
        apply_rules(store, config)
    log.info("imported mastodon archive", path=str(path), username=name, new=summary.new)
    return summary
