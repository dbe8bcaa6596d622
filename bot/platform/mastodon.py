"""`MastodonPlatform`: a Mastodon account through `Mastodon.py`, raising only our errors.

- Posts carry an `Idempotency-Key` derived from the outbox row's key: the server keeps it for
  3,600 s per account and, within that hour, answers the same key with the existing status
  (200) whatever the text, creating nothing. After the hour only a look at the account's recent
  statuses can tell, so `find_post` does that (text compared after HTML -> text).
- `ratelimit_method="throw"`: Mastodon.py's default sleeps inside the call until the reset; we
  raise `RateLimited(reset_at)` and let the scheduler wait.
- The length limit is the instance's `configuration.statuses.max_characters` (URLs count
  `characters_reserved_per_url`, 23), less the content warning, which counts too.
- `MastodonSources` reads any account's public statuses from its own instance's public API,
  with no token (sources `mastodon:USER@INSTANCE`).
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mastodon import Mastodon, MastodonError

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
from bot.platform.htmltext import html_to_text
from bot.platform.mastohttp import MastodonSession, error_for_requests
from bot.platform.textrules import MASTODON_DEFAULT_MAX_CHARACTERS, MASTODON_URL_LENGTH, graphemes

log = get_logger(__name__)

T = TypeVar("T")

PAGE_SIZE = 40  # Mastodon's maximum for statuses and notifications
MAX_PAGES = 80  # 3,200 statuses, X's reach; a server that pages forever is cut off here
FIND_POST_LOOKBACK = 80  # recent statuses searched when reconciling after the key's hour


def idempotency_key(key: str) -> str:
    """The `Idempotency-Key` header value for an outbox key (stable, header-safe)."""
    return "tweetbot-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def normalize_status_text(text: str) -> str:
    """Text as compared when matching an outbox row with a status (HTML, spacing, case)."""
    return re.sub(r"\s+", " ", html.unescape(text)).strip().casefold()


def instance_url(instance: str) -> str:
    """The base URL of an instance named in a source: https, or http for a loopback host."""
    host = urlsplit("//" + instance).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return f"{'http' if loopback else 'https'}://{instance}"


class _Client:
    """One Mastodon.py client and the error mapping around its calls."""

    def __init__(
        self, base_url: str, token: str | None, timeout: float, *, read_only: bool
    ) -> None:
        self.timeout = timeout
        self.api = Mastodon(
            access_token=token or None,
            api_base_url=base_url,
            request_timeout=timeout,
            ratelimit_method="throw",
            version_check_mode="none",
            session=MastodonSession(timeout, read_only=read_only),
        )

    def call(self, where: str, request: Callable[[], T]) -> T:
        """Run one Mastodon.py call; whatever goes wrong comes out as a PlatformError."""
        try:
            return request()
        except PlatformError:
            raise
        except MastodonError as exc:
            # Our session raised inside Mastodon.py, which wrapped it; the original is chained.
            inner = exc.__context__
            if isinstance(inner, PlatformError):
                raise inner from None
            if inner is not None:
                raise error_for_requests(inner, where, self.timeout) from exc
            raise BadResponse(f"{where}: Mastodon.py failed ({type(exc).__name__})") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadResponse(
                f"{where}: Mastodon's answer lacks or garbles a field ({type(exc).__name__})"
            ) from exc


class MastodonPlatform:
    """The bot's Mastodon account on `[mastodon] api_base_url`."""

    def __init__(self, config: Config, secrets: Secrets, *, read_only: bool = False) -> None:
        if not config.mastodon.api_base_url:
            raise AuthError("Mastodon needs [mastodon] api_base_url (the bot's instance)")
        if not secrets.mastodon_access_token:
            raise AuthError(
                "Mastodon needs MASTODON_ACCESS_TOKEN in the environment (a token with the "
                "scopes write:statuses read:notifications read:accounts)"
            )
        self._client = _Client(
            config.mastodon.api_base_url,
            secrets.mastodon_access_token,
            config.mastodon.timeout,
            read_only=read_only,
        )
        self._visibility = config.mastodon.visibility
        self._spoiler = config.mastodon.spoiler_text or None
        self._timeout = config.mastodon.timeout
        self._me: Account | None = None
        self._bot_flag: bool | None = None
        self._limits: PostLimits | None = None

    @property
    def network(self) -> Network:
        """Always "mastodon"."""
        return "mastodon"

    def _call(self, where: str, request: Callable[[], T]) -> T:
        return self._client.call(where, request)

    def me(self) -> Account:
        """The account the token belongs to (asked once)."""
        if self._me is None:
            where = "GET /api/v1/accounts/verify_credentials"
            raw = _as_dict(self._call(where, self._client.api.account_verify_credentials), where)
            self._me = Account(
                id=_text(raw, "id", where),
                username=_text(raw, "acct", where),
                name=str(raw.get("display_name") or ""),
            )
            self._bot_flag = bool(raw.get("bot"))
        return self._me

    def limits(self) -> PostLimits:
        """The instance's `max_characters` (less the content warning), read once."""
        if self._limits is None:
            where = "GET /api/v2/instance"
            raw = _as_dict(self._call(where, self._client.api.instance_v2), where)
            statuses = _dig(raw, "configuration", "statuses")
            max_chars = statuses.get("max_characters")
            per_url = statuses.get("characters_reserved_per_url")
            if not isinstance(max_chars, int) or max_chars <= 0:
                log.warning("instance gives no max_characters; assuming 500", where=where)
                max_chars = MASTODON_DEFAULT_MAX_CHARACTERS
            url_length = per_url if isinstance(per_url, int) and per_url > 0 else None
            reserved = graphemes(self._spoiler) if self._spoiler else 0
            self._limits = PostLimits(
                "mastodon", max_chars - reserved, "mastodon", url_length or MASTODON_URL_LENGTH
            )
        return self._limits

    def post(self, text: str, in_reply_to: str | None = None, key: str | None = None) -> str:
        """Post a status (`[mastodon] visibility`, `spoiler_text`); its id."""
        where = "POST /api/v1/statuses"
        status = self._call(
            where,
            lambda: self._client.api.status_post(
                text,
                in_reply_to_id=in_reply_to,
                visibility=self._visibility,
                spoiler_text=self._spoiler,
                idempotency_key=idempotency_key(key) if key else None,
            ),
        )
        raw = _as_dict(status, where)
        if not raw.get("id"):
            raise BadResponse(f"{where}: answered without the status id (it may be posted)")
        status_id = str(raw["id"])
        log.info("posted", network="mastodon", status_id=status_id, in_reply_to=in_reply_to)
        return status_id

    def find_post(self, key: str, text: str) -> str | None:
        """The id of a recent own status with `text`, or None.

        Not a resend with the same key: within the hour that would return the existing status,
        but when there is none it would post, and after the hour it always would.
        """
        me = self.me()
        wanted = normalize_status_text(text)
        where = f"GET /api/v1/accounts/{me.id}/statuses"
        max_id: str | None = None
        seen = 0
        while seen < FIND_POST_LOOKBACK:
            page = self._statuses(me.id, None, max_id, where, exclude_reblogs=True)
            if not page:
                return None
            for raw in page:
                if normalize_status_text(html_to_text(str(raw.get("content") or ""))) == wanted:
                    return str(raw["id"])
            seen += len(page)
            max_id = str(page[-1].get("id"))
        return None

    def bot_label_warning(self) -> str | None:
        """A warning unless the account has Mastodon's `bot` flag."""
        me = self.me()
        if self._bot_flag:
            return None
        return (
            f"the Mastodon account @{me.username} is not marked as a bot: tick 'This is an "
            "automated account' in Preferences > Profile (the account's `bot` flag)"
        )

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        """Notifications of type `mention` newer than `since_id` (a notification id), oldest
        first; all pages or an error."""
        where = "GET /api/v1/notifications"
        found: list[Mention] = []
        max_id: str | None = None
        for _ in range(MAX_PAGES):
            page = self._call(
                where,
                partial(
                    self._client.api.notifications,
                    types=["mention"],
                    since_id=since_id,
                    max_id=max_id,
                    limit=PAGE_SIZE,
                ),
            )
            items = [_as_dict(n, where) for n in (page or [])]
            if not items:
                break
            for item in items:
                if item.get("type") == "mention" and isinstance(item.get("status"), dict):
                    found.append(_mention(item, where))
            max_id = _text(items[-1], "id", where)
        found.sort(key=lambda m: _id_order(m.cursor or "0"))
        return found

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        """A source `USER@INSTANCE`'s public statuses, read from that instance (no token)."""
        return MastodonSources(self._timeout).user_tweets(username, since_id)

    def _statuses(
        self,
        account_id: str,
        since_id: str | None,
        max_id: str | None,
        where: str,
        *,
        exclude_reblogs: bool = False,
    ) -> list[dict[str, Any]]:
        page = self._call(
            where,
            lambda: self._client.api.account_statuses(
                account_id,
                since_id=since_id,
                max_id=max_id,
                limit=PAGE_SIZE,
                exclude_reblogs=exclude_reblogs,
            ),
        )
        return [_as_dict(s, where) for s in (page or [])]


class MastodonSources:
    """Reads public statuses of `USER@INSTANCE` accounts from each instance's public API."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._clients: dict[str, _Client] = {}

    def _client_for(self, instance: str) -> _Client:
        if instance not in self._clients:
            self._clients[instance] = _Client(
                instance_url(instance), None, self._timeout, read_only=True
            )
        return self._clients[instance]

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        """`USER@INSTANCE`'s statuses newer than `since_id` (the instance's status id),
        newest first, a page at a time; boosts are `retweet`s, replies `reply`s."""
        name = username.removeprefix("mastodon:").lstrip("@")
        user, _, instance = name.partition("@")
        if not user or not instance:
            raise NotFound(f"{username!r} is not a Mastodon account USER@INSTANCE")
        client = self._client_for(instance)
        where = f"GET {instance_url(instance)}/api/v1/accounts/lookup"
        account = _as_dict(client.call(where, lambda: client.api.account_lookup(user)), where)
        account_id = _text(account, "id", where)
        where = f"GET /api/v1/accounts/{account_id}/statuses"
        max_id: str | None = None
        for _ in range(MAX_PAGES):
            page = client.call(
                where,
                partial(
                    client.api.account_statuses,
                    account_id,
                    since_id=since_id,
                    max_id=max_id,
                    limit=PAGE_SIZE,
                ),
            )
            items = [_as_dict(s, where) for s in (page or [])]
            if not items:
                return
            yield [_status_tweet(s, f"mastodon:{user}@{instance}", where) for s in items]
            max_id = _text(items[-1], "id", where)


def _as_dict(value: Any, where: str) -> dict[str, Any]:
    # Mastodon.py returns AttribAccessDict objects (dict subclasses).
    if not isinstance(value, dict):
        raise BadResponse(f"{where}: Mastodon's answer is not an object")
    return value


def _dig(raw: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        value = raw.get(name)
        raw = value if isinstance(value, dict) else {}
    return raw


def _text(raw: Any, name: str, where: str) -> str:
    value = raw.get(name) if isinstance(raw, dict) else None
    if value in (None, ""):
        raise BadResponse(f"{where}: Mastodon's answer lacks `{name}`")
    return str(value)


def _id_order(value: str) -> tuple[int, str]:
    # Mastodon ids are numeric strings (snowflake-like); compare them as numbers.
    return (int(value), "") if value.isdigit() else (0, value)


def _when(raw: dict[str, Any], where: str) -> datetime:
    value = raw.get("created_at")
    if isinstance(value, datetime):
        # Mastodon.py parses times into the local zone; the bot works in UTC.
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadResponse(f"{where}: a bad created_at {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _mention(item: dict[str, Any], where: str) -> Mention:
    status = item["status"]
    account = _obj(status, "account")
    status_id = _text(status, "id", where)
    reply_to = status.get("in_reply_to_id")
    return Mention(
        id=status_id,
        author_id=_text(account, "id", where),
        author_username=str(account.get("acct") or ""),
        text=html_to_text(str(status.get("content") or "")),
        # Mastodon exposes no thread root; the status answered stands in for the thread.
        conversation_id=str(reply_to or status_id),
        created_at=_when(status, where),
        in_reply_to_user_id=_opt(status.get("in_reply_to_account_id")),
        in_reply_to_tweet_id=_opt(reply_to),
        network="mastodon",
        cursor=_text(item, "id", where),
    )


def _status_tweet(status: dict[str, Any], username: str, where: str) -> Tweet:
    account = _obj(status, "account")
    status_id = _text(status, "id", where)
    reblog = _obj(status, "reblog") or None
    kind: TweetKind = "original"
    if reblog is not None:
        kind = "retweet"
    elif status.get("in_reply_to_id"):
        kind = "reply"
    # The ActivityPub URI is the id everywhere (also in an archive's outbox.json), so a fetch
    # and an import of the same status are one row.
    uri = str(status.get("uri") or status.get("url") or status_id)
    return Tweet(
        id=uri,
        author_id=str(account.get("id") or ""),
        username=username,
        text=html_to_text(str(status.get("content") or "")),
        created_at=_when(status, where),
        kind=kind,
        in_reply_to_id=_opt(status.get("in_reply_to_id")),
        in_reply_to_user_id=_opt(status.get("in_reply_to_account_id")),
        referenced_id=_opt(reblog.get("uri")) if reblog else None,
        network="mastodon",
        cursor=status_id,
    )


def _opt(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _obj(raw: Any, name: str) -> dict[str, Any]:
    """`raw[name]` when it is a JSON object, else an empty one."""
    value = raw.get(name) if isinstance(raw, dict) else None
    return value if isinstance(value, dict) else {}
