"""`TwitterPlatform`: the X API v2 through `tweepy.Client`, raising only the project's errors.

tweepy is used for what it does well (OAuth 1.0a signing, parameter encoding); the session under
it (`XSession`) applies the base URL and timeout and turns failures into our errors. We never
set `wait_on_rate_limit`: it sleeps inside the caller and, without `x-rate-limit-reset`,
retries at once in a loop. A 429 becomes `RateLimited(reset_at)` and the scheduler decides.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import requests
import tweepy

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
from bot.platform.xhttp import (
    XSession,
    describe_body,
    error_for_exception,
    error_for_response,
)
from bot.textlen import MAX_WEIGHTED_LENGTH, URL_WEIGHT

log = get_logger(__name__)

T = TypeVar("T")

# Everything the corpus rules and the reply policy read. X omits any field not asked for.
TWEET_FIELDS = [
    "created_at",
    "author_id",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "entities",
    "note_tweet",  # the full text of tweets longer than 280 (X truncates `text` for those)
]
# The referenced tweets and their authors come along so a caller can tell a retweet or quote
# of whom; the author expansion gives each mention's @username without another request.
TIMELINE_EXPANSIONS = ["author_id", "referenced_tweets.id", "referenced_tweets.id.author_id"]
MENTION_EXPANSIONS = ["author_id"]
USER_FIELDS = ["username", "name"]
PAGE_SIZE = 100  # X's maximum for both timelines
# X stops paging at 3,200 tweets (timelines) and 800 (mentions); a few pages more than that is
# a server that keeps handing out tokens, and we stop instead of looping forever.
MAX_PAGES = 3200 // PAGE_SIZE + 2
# How many of the bot's newest tweets reconciling searches for an outbox row's text.
RECONCILE_LOOKBACK = 200


def normalize_text(text: str) -> str:
    """Text as compared when matching an outbox row with a tweet on X (X escapes and trims)."""
    return re.sub(r"\s+", " ", html.unescape(text)).strip().casefold()


class TwitterPlatform:
    """The real X account, through API v2 with OAuth 1.0a user context (or a bearer for reads)."""

    def __init__(self, config: Config, secrets: Secrets, *, read_only: bool = False) -> None:
        self._secrets_can_post = secrets.can_post
        self._timeout = config.twitter.timeout
        # Reads with user keys count against the user's own limits and see protected accounts
        # the user follows; tweepy's read methods default to the bearer, so say so explicitly.
        self._user_auth = secrets.can_post
        if not secrets.can_post and not secrets.bearer_token:
            raise AuthError(
                "no X credentials: set TWITTER_CONSUMER_KEY, TWITTER_CONSUMER_SECRET, "
                "TWITTER_ACCESS_TOKEN and TWITTER_ACCESS_TOKEN_SECRET (or TWITTER_BEARER_TOKEN "
                "to read only)"
            )
        self._client = tweepy.Client(
            bearer_token=secrets.bearer_token or None,
            consumer_key=secrets.consumer_key or None,
            consumer_secret=secrets.consumer_secret or None,
            access_token=secrets.access_token or None,
            access_token_secret=secrets.access_token_secret or None,
            wait_on_rate_limit=False,
        )
        self._client.session = XSession(
            config.twitter.api_base_url, config.twitter.timeout, read_only=read_only
        )
        self._me: Account | None = None
        self._user_ids: dict[str, str] = {}

    # ---- the Platform protocol -------------------------------------------------------------

    @property
    def network(self) -> Network:
        """Always "x"."""
        return "x"

    def limits(self) -> PostLimits:
        """280 weighted characters (twitter-text v3), a URL counting 23."""
        return PostLimits("x", MAX_WEIGHTED_LENGTH, "x-weighted", URL_WEIGHT)

    def find_post(self, key: str, text: str) -> str | None:
        """The id of the bot's recent tweet with `text`, or None (X takes no idempotency key,
        so reconciling searches the newest RECONCILE_LOOKBACK tweets of the timeline)."""
        wanted = normalize_text(text)
        seen = 0
        for page in self.user_tweets(self.me().username):
            for tweet in page:
                if normalize_text(tweet.text) == wanted:
                    return tweet.id
            seen += len(page)
            if seen >= RECONCILE_LOOKBACK:
                break
        return None

    def bot_label_warning(self) -> str | None:
        """None: X's "automated" account label is not readable through API v2."""
        return None

    def me(self) -> Account:
        """The authenticated account (asked once, then remembered)."""
        if self._me is None:
            if not self._user_auth:
                raise AuthError(
                    "reading the bot's own account needs the four OAuth 1.0a TWITTER_* keys; "
                    "a bearer token alone can only read other accounts"
                )
            response = self._call("GET /2/users/me", lambda: self._client.get_me(user_auth=True))
            data = _require(_raw(response.data), "GET /2/users/me", "data")
            self._me = Account(
                id=_snowflake(data, "id", "GET /2/users/me"),
                username=str(_field(data, "username", "GET /2/users/me")),
                name=str(data.get("name") or ""),
            )
        return self._me

    def post(self, text: str, in_reply_to: str | None = None, key: str | None = None) -> str:
        """Publish `text` (as a reply to tweet `in_reply_to` when given); the new tweet's id.

        `key` is accepted for the protocol and unused: X has no idempotency key.
        """
        if not self._secrets_can_post:
            raise AuthError(
                "posting needs the four OAuth 1.0a keys: TWITTER_CONSUMER_KEY, "
                "TWITTER_CONSUMER_SECRET, TWITTER_ACCESS_TOKEN, TWITTER_ACCESS_TOKEN_SECRET"
            )
        where = "POST /2/tweets"
        response = self._call(
            where,
            lambda: self._client.create_tweet(
                text=text, in_reply_to_tweet_id=in_reply_to, user_auth=True
            ),
        )
        data = response.data if isinstance(response.data, dict) else {}
        if not data.get("id"):
            # X accepted the request, so the tweet probably exists: say so, do not guess an id.
            raise BadResponse(f"{where}: X answered without the new tweet's id (it may be posted)")
        tweet_id = _snowflake(data, "id", where)
        log.info("posted", tweet_id=tweet_id, in_reply_to=in_reply_to, chars=len(text))
        return tweet_id

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        """Mentions newer than `since_id`, oldest first; all pages or an error, never a part."""
        me = self.me()
        where = f"GET /2/users/{me.id}/mentions"
        found: list[Mention] = []
        for page, includes in self._pages(
            where,
            lambda token: self._client.get_users_mentions(
                me.id,
                since_id=since_id,
                max_results=PAGE_SIZE,
                pagination_token=token,
                tweet_fields=TWEET_FIELDS,
                expansions=MENTION_EXPANSIONS,
                user_fields=USER_FIELDS,
                user_auth=self._user_auth,
            ),
        ):
            usernames = _usernames(includes)
            found += [_mention(raw, usernames, where) for raw in page]
        # Pages come newest first; callers answer in the order people wrote.
        found.sort(key=lambda m: int(m.id))
        return found

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        """`username`'s tweets newer than `since_id` (retweets and replies included), a page
        at a time, newest first, back to X's 3,200-tweet reach.

        Each page is complete or raises: a failure mid-way never yields part of a page. The
        caller advances its since_id only after the last page (see `Platform.user_tweets`).
        """
        user_id = self._user_id(username)
        where = f"GET /2/users/{user_id}/tweets"
        for page, includes in self._pages(
            where,
            lambda token: self._client.get_users_tweets(
                user_id,
                since_id=since_id,
                max_results=PAGE_SIZE,
                pagination_token=token,
                tweet_fields=TWEET_FIELDS,
                expansions=TIMELINE_EXPANSIONS,
                user_fields=USER_FIELDS,
                user_auth=self._user_auth,
            ),
        ):
            names = _usernames(includes)
            yield [
                _tweet(raw, names.get(str(raw.get("author_id")), username), where) for raw in page
            ]

    # ---- helpers ---------------------------------------------------------------------------

    def _user_id(self, username: str) -> str:
        name = username.lstrip("@")
        if name.lower() not in self._user_ids:
            where = f"GET /2/users/by/username/{name}"
            response = self._call(
                where, lambda: self._client.get_user(username=name, user_auth=self._user_auth)
            )
            if response.data is None:
                # X answers 200 with only `errors` for an unknown or suspended account.
                detail = describe_body(_errors_body(response.errors))
                raise NotFound(f"{where}: no X account @{name} ({detail})")
            self._user_ids[name.lower()] = str(_field(_raw(response.data), "id", where))
        return self._user_ids[name.lower()]

    def _pages(
        self, where: str, fetch: Callable[[str | None], Any]
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
        """(raw tweets, raw includes) per page until X gives no `next_token`."""
        token: str | None = None
        for _ in range(MAX_PAGES):
            response = self._call(where, partial(fetch, token))
            raw_page = [_raw(t) for t in response.data or []]
            raw_includes = {
                key: [_raw(item) for item in items]
                for key, items in (response.includes or {}).items()
            }
            yield raw_page, raw_includes
            token = (response.meta or {}).get("next_token")
            if not token or not raw_page:
                return
        log.warning("pagination_stopped", where=where, pages=MAX_PAGES)

    def _call(self, where: str, request: Callable[[], T]) -> T:
        """Run one tweepy call; whatever goes wrong comes out as a PlatformError."""
        try:
            return request()
        except PlatformError:
            raise
        except tweepy.HTTPException as exc:
            # XSession raises before tweepy sees an error status; this is a safety net.
            response = exc.response
            raise error_for_response(
                int(getattr(response, "status_code", 0)),
                getattr(response, "headers", {}) or {},
                getattr(response, "content", b"") or b"",
                where,
            ) or BadResponse(f"{where}: {exc}") from exc
        except requests.RequestException as exc:
            raise error_for_exception(exc, where, self._timeout) from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # tweepy builds its models with data["id"], int(...): a 200 missing fields or with
            # garbled ones lands here.
            raise BadResponse(
                f"{where}: X's answer lacks or garbles a field ({type(exc).__name__}: {exc})"
            ) from exc


def _errors_body(errors: Any) -> bytes:
    return json.dumps({"errors": errors if isinstance(errors, list) else []}).encode()


def _raw(model: Any) -> Any:
    # tweepy wraps each object in a model class that keeps the JSON it came from in `.data`.
    return getattr(model, "data", model)


def _require(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadResponse(f"{where}: X's answer has no `{what}` object")
    return value


def _field(data: Any, name: str, where: str) -> Any:
    if not isinstance(data, dict) or data.get(name) in (None, ""):
        raise BadResponse(f"{where}: X's answer lacks `{name}`")
    return data[name]


def _snowflake(data: Any, name: str, where: str) -> str:
    """An id field, which on X is always ASCII digits: anything else ("²³¹", "1e9", "-1")
    would sort, compare and resume incrementally wrong, so it is refused as a bad answer."""
    value = str(_field(data, name, where))
    if not (value.isascii() and value.isdigit()):
        raise BadResponse(f"{where}: X's answer has a `{name}` that is not a numeric id")
    return value


def _usernames(includes: dict[str, Any]) -> dict[str, str]:
    return {
        str(u["id"]): str(u["username"])
        for u in includes.get("users", [])
        if isinstance(u, dict) and u.get("id") and u.get("username")
    }


def _created_at(raw: dict[str, Any], where: str) -> datetime:
    value = _field(raw, "created_at", where)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadResponse(
            f"{where}: tweet {raw.get('id')} has a bad created_at {value!r}"
        ) from None


def _references(raw: dict[str, Any]) -> dict[str, str]:
    refs = raw.get("referenced_tweets") or []
    return {str(r.get("type")): str(r.get("id")) for r in refs if isinstance(r, dict)}


def _kind(refs: dict[str, str]) -> TweetKind:
    # A retweet is never also a reply; a reply that quotes counts as a reply, because the
    # corpus rules treat replies (conversation) differently from quotes (commentary).
    if "retweeted" in refs:
        return "retweet"
    if "replied_to" in refs:
        return "reply"
    if "quoted" in refs:
        return "quote"
    return "original"


def _text(raw: dict[str, Any], where: str) -> str:
    note = raw.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str):
        return str(note["text"])
    return str(_field(raw, "text", where))


def _tweet(raw: dict[str, Any], username: str, where: str) -> Tweet:
    refs = _references(raw)
    kind = _kind(refs)
    entities = raw.get("entities")
    url_entities = entities.get("urls") if isinstance(entities, dict) else None
    urls = tuple(
        (str(u.get("url", "")), str(u.get("expanded_url") or u.get("url", "")))
        for u in (url_entities if isinstance(url_entities, list) else [])
        if isinstance(u, dict)
    )
    return Tweet(
        id=_snowflake(raw, "id", where),
        author_id=_snowflake(raw, "author_id", where),
        username=username,
        text=_text(raw, where),
        created_at=_created_at(raw, where),
        kind=kind,
        in_reply_to_id=refs.get("replied_to"),
        in_reply_to_user_id=_opt(raw.get("in_reply_to_user_id")),
        referenced_id=refs.get("retweeted") or refs.get("quoted"),
        urls=urls,
    )


def _mention(raw: dict[str, Any], usernames: dict[str, str], where: str) -> Mention:
    author_id = str(_field(raw, "author_id", where))
    return Mention(
        id=_snowflake(raw, "id", where),
        author_id=author_id,
        author_username=usernames.get(author_id, ""),
        text=_text(raw, where),
        conversation_id=str(raw.get("conversation_id") or raw["id"]),
        created_at=_created_at(raw, where),
        in_reply_to_user_id=_opt(raw.get("in_reply_to_user_id")),
        in_reply_to_tweet_id=_references(raw).get("replied_to"),
    )


def _opt(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
