"""Import a Bluesky repository export (`.car`): its `app.bsky.feed.post` records.

A repo export (com.atproto.sync.getRepo, or "Export my data" in the app) is a CAR file: the
signed commit (naming the account's `did`), the nodes of the Merkle Search Tree and the records.
Each MST node holds entries `{p, k, v, t}`: the key is the first `p` bytes of the previous key
in that node plus `k`, `v` the record's CID. Reading every node's entries gives every record key
(`app.bsky.feed.post/<rkey>`) without walking the tree in order. Decoding is atproto's `CAR`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from atproto import CAR
from atproto_core.cid import CID

from bot.config import Config, source_network
from bot.corpus.archive import ArchiveError, ArchiveLimits, ImportSummary
from bot.corpus.fetch_network import insert_network_rows, network_row
from bot.corpus.training import apply_rules
from bot.logging import get_logger
from bot.platform.base import Tweet, TweetKind
from bot.store import Store

log = get_logger(__name__)

POST_PREFIX = "app.bsky.feed.post/"


def is_bluesky_repo(path: Path) -> bool:
    """Whether `path` looks like a repo export (by its `.car` name)."""
    return path.suffix.lower() == ".car"


def _entries(node: dict[str, Any]) -> list[tuple[str, Any]]:
    """(key, value CID) of one MST node's entries."""
    found = []
    previous = b""
    for entry in node.get("e") or []:
        if not isinstance(entry, dict):
            continue
        suffix = entry.get("k") or b""
        key = previous[: int(entry.get("p") or 0)] + bytes(suffix)
        previous = key
        found.append((key.decode("utf-8", "replace"), entry.get("v")))
    return found


def _is_mst_node(block: Any) -> bool:
    return isinstance(block, dict) and isinstance(block.get("e"), list) and "l" in block


def _cid(value: Any) -> CID | None:
    if isinstance(value, CID):
        return value
    if isinstance(value, bytes | str):
        try:
            return CID.decode(value) if isinstance(value, str) else CID.from_decoded_bytes(value)
        except Exception:
            return None
    return None


def _when(value: Any, where: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ArchiveError(f"{where}: bad `createdAt` {value!r}") from None


def read_repo(path: Path, limits: ArchiveLimits) -> tuple[str, dict[str, dict[str, Any]]]:
    """(the account's DID, rkey -> post record) of a repo export."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read ({exc.strerror})") from None
    if size > limits.max_file_bytes:
        raise ArchiveError(f"{path}: too large to import")
    try:
        car = CAR.from_bytes(path.read_bytes())
    except Exception as exc:
        raise ArchiveError(f"{path}: not a readable CAR file ({type(exc).__name__})") from None
    blocks = {str(cid): block for cid, block in car.blocks.items()}
    commit = blocks.get(str(car.root))
    did = commit.get("did") if isinstance(commit, dict) else None
    if not isinstance(did, str) or not did.startswith("did:"):
        raise ArchiveError(f"{path}: the CAR's root is not a repository commit (no `did`)")
    posts: dict[str, dict[str, Any]] = {}
    for block in blocks.values():
        if not _is_mst_node(block):
            continue
        for key, value in _entries(block):
            if not key.startswith(POST_PREFIX):
                continue
            cid = _cid(value)
            record = blocks.get(str(cid)) if cid is not None else None
            if isinstance(record, dict) and record.get("$type") == "app.bsky.feed.post":
                posts[key.removeprefix(POST_PREFIX)] = record
    return did, posts


def _tweet(did: str, rkey: str, record: dict[str, Any], username: str) -> Tweet:
    where = f"record {rkey}"
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else None
    parent = reply.get("parent") if reply and isinstance(reply.get("parent"), dict) else None
    embed = record.get("embed") if isinstance(record.get("embed"), dict) else None
    quoted = embed.get("record") if embed and isinstance(embed.get("record"), dict) else None
    kind: TweetKind = "reply" if parent else "quote" if quoted else "original"
    return Tweet(
        id=f"at://{did}/app.bsky.feed.post/{rkey}",
        author_id=did,
        username=username,
        text=str(record.get("text") or ""),
        created_at=_when(record.get("createdAt"), where),
        kind=kind,
        in_reply_to_id=str(parent.get("uri")) if parent else None,
        referenced_id=str(quoted.get("uri")) if quoted and quoted.get("uri") else None,
        network="bluesky",
    )


def _resolve(explicit: str | None, did: str, config: Config | None) -> str:
    if explicit:
        return "bluesky:" + explicit.removeprefix("bluesky:").lstrip("@")
    configured = [
        n for n in (config.source.usernames if config else []) if source_network(n) == "bluesky"
    ]
    # A CAR names the account only by DID; one configured Bluesky source is that account.
    return configured[0] if len(configured) == 1 else f"bluesky:{did}"


def import_bluesky_repo(
    store: Store,
    path: Path,
    *,
    username: str | None = None,
    config: Config | None = None,
    limits: ArchiveLimits,
) -> ImportSummary:
    """Import a repo export's posts: all in one transaction, or none."""
    did, posts = read_repo(path, limits)
    name = _resolve(username, did, config)
    rows = {}
    for rkey, record in posts.items():
        tweet = _tweet(did, rkey, record, name)
        rows[tweet.id] = network_row(tweet, origin="archive")
    summary = ImportSummary(path=path, username=name, files=[path.name])
    summary.found = len(rows)
    summary.new = insert_network_rows(store, rows.values())
    if config is not None:
        apply_rules(store, config)
    log.info("imported bluesky repo", path=str(path), username=name, new=summary.new)
    return summary
