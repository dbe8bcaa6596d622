"""`BlueskyPlatform`: a Bluesky account through the `atproto` SDK, raising only our errors.

- One session per process: `createSession` is limited to 30 per 5 minutes per account, so we
  sign in once, let the SDK refresh the access token before it expires (it does so 15 minutes
  ahead), and sign in again only when the server rejects the session itself.
- A post is created under a record key derived from the outbox row's key (bot/platform/tid.py).
  A second `createRecord` under that key fails on the real PDS with a bare HTTP 500 (nothing is
  written), so the answer cannot tell "already posted" from a fault: `find_post` reconciles with
  `getRecord` instead, and 400 `RecordNotFound` means absent.
- Links become `app.bsky.richtext.facet#link` facets only with `[filters] allow_urls`.
- Mentions come from `app.bsky.notification.listNotifications` (reasons `mention` and
  `reply`); their since-marker is the notification's `indexedAt`, because post URIs are not
  ordered.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from atproto import Client, models
from atproto_client.request import Request

from bot.config import Config, Secrets
from bot.logging import get_logger
from bot.platform.base import (
    Account,
    AuthError,
    BadResponse,
    Mention,
    Network,
    NotFound,
    PlatformError,
    PostLimits,
    Tweet,
    TweetKind,
)
from bot.platform.bskyhttp import GuardedTransport, error_for_atproto, json_object
from bot.platform.textrules import BLUESKY_MAX_GRAPHEMES
from bot.platform.tid import tid_for_key

log = get_logger(__name__)

T = TypeVar("T")

POST_COLLECTION = "app.bsky.feed.post"
PROFILE_COLLECTION = "app.bsky.actor.profile"
MENTION_REASONS = frozenset({"mention", "reply"})
PAGE_SIZE = 100  # the lexicons' maximum for listNotifications and getAuthorFeed
MAX_PAGES = 40
BOT_LABEL = "bot"
_LINK = re.compile(r"https?://[^\s<>\"]+")
_LINK_TRAILING = ".,:;!?)]}'\""


class BlueskyPlatform:
    """The bot's Bluesky account (or, without a password, a reader of public feeds)."""

    def __init__(
        self,
        config: Config,
        secrets: Secrets,
        *,
        read_only: bool = False,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._handle = config.bluesky.handle.lstrip("@")
        self._password = secrets.bluesky_app_password
        self._timeout = config.bluesky.timeout
        self._allow_links = config.filters.allow_urls
        self._read_only = read_only
        self._now = now
        self._client = Client(
            base_url=config.bluesky.service_url,
            request=Request(
                timeout=config.bluesky.timeout, transport=GuardedTransport(read_only=read_only)
            ),
        )
        self._signed_in = False
        self._session_lock = threading.Lock()
        # uri -> (cid, root strong ref) of posts seen as mentions, so a reply needs no lookup.
        self._refs: dict[str, tuple[str, dict[str, str]]] = {}
        self.session_creations = 0  # how often this process called createSession (tests read it)

    @property
    def network(self) -> Network:
        """Always "bluesky"."""
        return "bluesky"

    def limits(self) -> PostLimits:
        """300 graphemes (the `app.bsky.feed.post` lexicon); a link counts its own text."""
        return PostLimits("bluesky", BLUESKY_MAX_GRAPHEMES, "graphemes", None)

    # ---- session ---------------------------------------------------------------------------

    def _sign_in(self, *, again: bool = False) -> None:
        with self._session_lock:
            if self._signed_in and not again:
                return
            if not self._handle or not self._password:
                raise AuthError(
                    "Bluesky needs [bluesky] handle in the config and BLUESKY_APP_PASSWORD in "
                    "the environment (an app password, not the account password)"
                )
            where = "POST com.atproto.server.createSession"
            self.session_creations += 1
            try:
                self._client.login(self._handle, self._password, fetch_bsky_profile=False)
            except Exception as exc:
                raise error_for_atproto(exc, where, self._timeout) from exc
            self._signed_in = True
            log.info("bluesky session created", handle=self._handle)

    def _call(self, where: str, request: Callable[[], T], *, signed_in: bool = True) -> T:
        """Run one SDK call; a rejected session is renewed once; errors become ours."""
        if signed_in:
            self._sign_in()
        try:
            return self._attempt(where, request)
        except AuthError:
            if not signed_in or not self._signed_in:
                raise
        # The server rejected the session (revoked, or both tokens expired): sign in again
        # once. A request refused for its credentials did nothing, so repeating it is safe.
        log.warning("bluesky session rejected; signing in again", request=where)
        self._sign_in(again=True)
        return self._attempt(where, request)

    def _attempt(self, where: str, request: Callable[[], T]) -> T:
        try:
            return request()
        except PlatformError:
            raise
        except Exception as exc:
            raise error_for_atproto(exc, where, self._timeout) from exc

    def _query(self, nsid: str, params: Any, *, signed_in: bool = True) -> dict[str, Any]:
        where = f"GET {nsid}"
        response = self._call(
            where, lambda: self._client.invoke_query(nsid, params=params), signed_in=signed_in
        )
        return json_object(response.content, where)

    def _procedure(self, nsid: str, data: Any) -> dict[str, Any]:
        where = f"POST {nsid}"
        response = self._call(where, lambda: self._client.invoke_procedure(nsid, data=data))
        content = response.content
        return content if isinstance(content, dict) else json_object(content, where)

    # ---- the Platform protocol -------------------------------------------------------------

    def me(self) -> Account:
        """The signed-in account: its DID and handle."""
        self._sign_in()
        session = self._client._session  # the SDK keeps the DID and handle there
        if session is None or not session.did:
            raise BadResponse("com.atproto.server.createSession: Bluesky returned no DID")
        return Account(id=session.did, username=session.handle or self._handle)

    def post(self, text: str, in_reply_to: str | None = None, key: str | None = None) -> str:
        """Create an `app.bsky.feed.post` record; its `at://` URI is the new post's id.

        With `key`, the record key is `tid_for_key(key)`: sending the same row twice can never
        create two posts (the second is refused with a 500 and `find_post` settles it).
        """
        me = self.me()
        record: dict[str, Any] = {
            "text": text,
            "created_at": self._client.get_current_time_iso(),
        }
        facets = link_facets(text) if self._allow_links else []
        if facets:
            record["facets"] = facets
        if in_reply_to is not None:
            record["reply"] = self._reply_ref(in_reply_to)
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=me.id,
            collection=POST_COLLECTION,
            record=models.AppBskyFeedPost.Record(**record),
            rkey=tid_for_key(key) if key else None,
        )
        answer = self._procedure("com.atproto.repo.createRecord", data)
        uri = answer.get("uri")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise BadResponse(
                "POST com.atproto.repo.createRecord: Bluesky answered without the new post's "
                "URI (it may be posted)"
            )
        log.info("posted", network="bluesky", uri=uri, in_reply_to=in_reply_to, chars=len(text))
        return uri

    def find_post(self, key: str, text: str) -> str | None:
        """The URI of the post created under `key`'s record key, or None when there is none."""
        me = self.me()
        params = models.ComAtprotoRepoGetRecord.Params(
            repo=me.id, collection=POST_COLLECTION, rkey=tid_for_key(key)
        )
        try:
            answer = self._query("com.atproto.repo.getRecord", params)
        except NotFound:
            return None
        uri = answer.get("uri")
        if not isinstance(uri, str):
            raise BadResponse("GET com.atproto.repo.getRecord: answer without `uri`")
        return uri

    def bot_label_warning(self) -> str | None:
        """A warning unless the profile record carries the `bot` self-label."""
        me = self.me()
        params = models.ComAtprotoRepoGetRecord.Params(
            repo=me.id, collection=PROFILE_COLLECTION, rkey="self"
        )
        try:
            answer = self._query("com.atproto.repo.getRecord", params)
        except NotFound:
            answer = {}
        value = _obj(answer, "value")
        labels = value.get("labels") if isinstance(value, dict) else None
        values = labels.get("values") if isinstance(labels, dict) else None
        if isinstance(values, list) and any(
            isinstance(v, dict) and v.get("val") == BOT_LABEL for v in values
        ):
            return None
        return (
            f"the Bluesky account @{me.username} does not carry the `bot` self-label: set "
            "it in the app (Settings > Moderation > 'This account is a bot') so people know"
        )

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        """Mentions and replies newer than `since_id` (an `indexedAt`), oldest first."""
        since = _parse_time(since_id) if since_id else None
        found: list[Mention] = []
        newest: str | None = None
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params = models.AppBskyNotificationListNotifications.Params(
                limit=PAGE_SIZE, cursor=cursor
            )
            answer = self._query("app.bsky.notification.listNotifications", params)
            items = answer.get("notifications")
            if not isinstance(items, list):
                raise BadResponse("GET app.bsky.notification.listNotifications: no `notifications`")
            reached_old = False
            for item in items:
                indexed = _text_field(item, "indexedAt", "listNotifications")
                if since is not None and _parse_time(indexed) <= since:
                    reached_old = True
                    continue
                newest = max(newest or indexed, indexed, key=_parse_time)
                if item.get("reason") in MENTION_REASONS:
                    found.append(self._mention(item))
            cursor = answer.get("cursor") if isinstance(answer.get("cursor"), str) else None
            if reached_old or not cursor or not items:
                break
        found.sort(key=lambda m: _parse_time(m.cursor or ""))
        if newest and not self._read_only:
            self._mark_seen(newest)
        return found

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        """`username`'s author feed (posts, replies, reposts) newer than `since_id`, newest
        first, a page at a time; `since_id` is the `indexedAt` of the newest post seen."""
        handle = username.removeprefix("bluesky:").lstrip("@")
        since = _parse_time(since_id) if since_id else None
        cursor: str | None = None
        signed_in = bool(self._password and self._handle)
        for _ in range(MAX_PAGES):
            params = models.AppBskyFeedGetAuthorFeed.Params(
                actor=handle, limit=PAGE_SIZE, cursor=cursor, filter="posts_with_replies"
            )
            answer = self._query("app.bsky.feed.getAuthorFeed", params, signed_in=signed_in)
            items = answer.get("feed")
            if not isinstance(items, list):
                raise BadResponse("GET app.bsky.feed.getAuthorFeed: no `feed`")
            page = [_feed_tweet(item, handle) for item in items]
            fresh = [t for t in page if since is None or _parse_time(t.cursor or "") > since]
            if fresh:
                yield fresh
            cursor = answer.get("cursor") if isinstance(answer.get("cursor"), str) else None
            if len(fresh) < len(page) or not cursor or not items:
                return

    # ---- helpers ---------------------------------------------------------------------------

    def _mark_seen(self, seen_at: str) -> None:
        # A courtesy for the person who also opens the account in an app; never fatal.
        try:
            self._procedure(
                "app.bsky.notification.updateSeen",
                models.AppBskyNotificationUpdateSeen.Data(seen_at=seen_at),
            )
        except PlatformError as exc:
            log.warning("could not mark bluesky notifications seen", error=str(exc))

    def _mention(self, item: dict[str, Any]) -> Mention:
        where = "listNotifications"
        uri = _text_field(item, "uri", where)
        cid = _text_field(item, "cid", where)
        author = _obj(item, "author")
        record = _obj(item, "record")
        reply = _obj(record, "reply") or None
        parent = _strong_ref(reply.get("parent")) if reply else None
        root = _strong_ref(reply.get("root")) if reply else None
        own_ref = {"uri": uri, "cid": cid}
        self._refs[uri] = (cid, root or own_ref)
        indexed = _text_field(item, "indexedAt", where)
        return Mention(
            id=uri,
            author_id=_text_field(author, "did", where),
            author_username=str(author.get("handle") or ""),
            text=str(record.get("text") or ""),
            conversation_id=(root or own_ref)["uri"],
            created_at=_parse_time(str(record.get("createdAt") or indexed)),
            in_reply_to_user_id=_did_of(parent["uri"]) if parent else None,
            in_reply_to_tweet_id=parent["uri"] if parent else None,
            network="bluesky",
            cursor=indexed,
        )

    def _reply_ref(self, uri: str) -> models.AppBskyFeedPost.ReplyRef:
        """`reply` of a post answering `uri`: parent is that post, root its thread's root."""
        if uri not in self._refs:
            answer = self._query(
                "app.bsky.feed.getPosts", models.AppBskyFeedGetPosts.Params(uris=[uri])
            )
            posts = answer.get("posts")
            if not isinstance(posts, list) or not posts or not isinstance(posts[0], dict):
                raise NotFound(f"GET app.bsky.feed.getPosts: the post {uri} does not exist")
            post = posts[0]
            record = _obj(post, "record")
            reply = _obj(record, "reply") or None
            cid = _text_field(post, "cid", "getPosts")
            root = _strong_ref(reply.get("root")) if reply else None
            self._refs[uri] = (cid, root or {"uri": uri, "cid": cid})
        cid, root = self._refs[uri]
        return models.AppBskyFeedPost.ReplyRef(
            parent=models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=cid),
            root=models.ComAtprotoRepoStrongRef.Main(uri=root["uri"], cid=root["cid"]),
        )


def link_facets(text: str) -> list[models.AppBskyRichtextFacet.Main]:
    """`#link` facets for the http(s) links in `text` (byte offsets of its UTF-8 form)."""
    facets = []
    encoded_upto = 0
    byte_pos = 0
    for match in _LINK.finditer(text):
        url = match.group(0).rstrip(_LINK_TRAILING)
        byte_pos += len(text[encoded_upto : match.start()].encode("utf-8"))
        start = byte_pos
        end = start + len(url.encode("utf-8"))
        byte_pos = start + len(match.group(0).encode("utf-8"))
        encoded_upto = match.end()
        facets.append(
            models.AppBskyRichtextFacet.Main(
                index=models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=end),
                features=[models.AppBskyRichtextFacet.Link(uri=url)],
            )
        )
    return facets


def _text_field(item: Any, name: str, where: str) -> str:
    value = item.get(name) if isinstance(item, dict) else None
    if not isinstance(value, str) or not value:
        raise BadResponse(f"{where}: Bluesky's answer lacks `{name}`")
    return value


def _strong_ref(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict) and isinstance(value.get("uri"), str):
        return {"uri": value["uri"], "cid": str(value.get("cid") or "")}
    return None


def _did_of(uri: str) -> str | None:
    # at://did:plc:abc/app.bsky.feed.post/3k... -> did:plc:abc
    did = uri.removeprefix("at://").split("/", 1)[0]
    return did or None


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadResponse(f"Bluesky sent a bad timestamp {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _feed_tweet(item: Any, handle: str) -> Tweet:
    where = "getAuthorFeed"
    post = item.get("post") if isinstance(item, dict) else None
    if not isinstance(post, dict):
        raise BadResponse(f"{where}: a feed item without `post`")
    uri = _text_field(post, "uri", where)
    author = _obj(post, "author")
    record = _obj(post, "record")
    indexed = _text_field(post, "indexedAt", where)
    reason = _obj(item, "reason") or None
    reply = _obj(record, "reply") or None
    parent = _strong_ref(reply.get("parent")) if reply else None
    embed = _obj(record, "embed")
    quoted = _strong_ref(embed.get("record")) if embed else None
    kind: TweetKind = "original"
    tweet_id = uri
    if reason is not None and str(reason.get("$type", "")).endswith("reasonRepost"):
        kind = "retweet"
        by = _obj(reason, "by")
        # The item shows someone else's post; the repost itself needs an id of its own.
        tweet_id = f"repost:{by.get('did') or handle}:{uri}"
        indexed = str(reason.get("indexedAt") or indexed)
    elif parent is not None:
        kind = "reply"
    elif quoted is not None:
        kind = "quote"
    return Tweet(
        id=tweet_id,
        author_id=str(author.get("did") or ""),
        username=f"bluesky:{handle}",
        text=str(record.get("text") or ""),
        created_at=_parse_time(str(record.get("createdAt") or indexed)),
        kind=kind,
        in_reply_to_id=parent["uri"] if parent else None,
        in_reply_to_user_id=_did_of(parent["uri"]) if parent else None,
        referenced_id=uri if kind == "retweet" else (quoted["uri"] if quoted else None),
        network="bluesky",
        cursor=indexed,
    )


def _obj(raw: Any, name: str) -> dict[str, Any]:
    """`raw[name]` when it is a JSON object, else an empty one."""
    value = raw.get(name) if isinstance(raw, dict) else None
    return value if isinstance(value, dict) else {}
