"""The fake X API v2 in memory: accounts, tweets, timelines and the routes that answer them.

It speaks the parts of API v2 the bot uses, the way X does: `tweet.fields`, `user.fields` and
`expansions` decide what each object carries (fields that were not asked for are absent),
timelines page newest first with `meta.next_token`, `since_id` and `max_results` are honoured,
user timelines reach back 3,200 tweets and mentions 800, errors are problem JSON, and a second
tweet with the same text is refused with X's duplicate-content 403. No HTTP here: x_server.py
puts this on loopback, x_control.py is how tests and other processes set the scene.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# How far back X lets a client page (DESIGN.md: mentions 800, user timelines 3,200).
TIMELINE_REACH = 3200
MENTIONS_REACH = 800

DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."

# The fields X accepts in `tweet.fields` / `user.fields`; anything else is a 400, as on X.
TWEET_FIELDS = {
    "attachments",
    "author_id",
    "context_annotations",
    "conversation_id",
    "created_at",
    "edit_controls",
    "entities",
    "geo",
    "id",
    "in_reply_to_user_id",
    "lang",
    "note_tweet",
    "possibly_sensitive",
    "public_metrics",
    "referenced_tweets",
    "reply_settings",
    "source",
    "text",
    "withheld",
    "edit_history_tweet_ids",
}
USER_FIELDS = {"created_at", "description", "id", "name", "protected", "username", "verified"}
EXPANSIONS = {
    "author_id",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    "in_reply_to_user_id",
    "entities.mentions.username",
    "attachments.media_keys",
}
ALWAYS_TWEET = ("id", "text", "edit_history_tweet_ids")
ALWAYS_USER = ("id", "name", "username")

# Fault kinds `fail_next` accepts, and what each does.
FAULTS = {
    "rate_limit": "429 with x-rate-limit-reset 60 s ahead",
    "rate_limit_no_reset": "429 without any x-rate-limit-* header",
    "rate_limit_garbled_reset": "429 whose x-rate-limit-reset is not a number",
    "unauthorized": "401 problem JSON",
    "forbidden": "403 problem JSON (client-not-enrolled, as for an endpoint outside the tier)",
    "not_found": "404 problem JSON",
    "server_error": "500 problem JSON",
    "unavailable_html": "503 with an HTML page, as from a load balancer",
    "html_200": "200 with an HTML page (a captive portal or a misconfigured proxy)",
    "malformed_json": "200 whose body is cut-off JSON",
    "missing_fields": "200 JSON without `data` fields the client relies on",
    "slow": "waits `slow_seconds`, then 503; the request has no effect",
    "slow_then_ok": "waits `slow_seconds`, then does the request (an ambiguous timeout)",
    "drop": "closes the connection without answering; the request has no effect",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ApiError(Exception):
    """An X-style problem response raised by a route."""

    def __init__(self, status: int, title: str, detail: str, kind: str = "about:blank") -> None:
        super().__init__(detail)
        self.status = status
        self.body = {"title": title, "detail": detail, "type": kind, "status": status}


@dataclass
class Fault:
    """A fault served instead of the next `count` matching requests."""

    pattern: re.Pattern[str]
    kind: str
    count: int
    method: str | None = None


@dataclass
class RecordedRequest:
    """One request as the server saw it (control requests are not recorded)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    auth: str | None  # "oauth1", "bearer" or None

    @property
    def fields(self) -> set[str]:
        """The `tweet.fields` this request asked for."""
        return set(filter(None, self.query.get("tweet.fields", "").split(",")))

    @property
    def expansions(self) -> set[str]:
        """The `expansions` this request asked for."""
        return set(filter(None, self.query.get("expansions", "").split(",")))


@dataclass
class FakeXState:
    """Everything the fake knows: accounts, tweets, timelines, what was posted, faults."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> user
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> full tweet
    mention_ids: list[str] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    me_id: str = ""
    next_id: int = 1_800_000_000_000_000_000
    clock: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))


class XApi:
    """The state of a fake X and the API routes over it (thread-safe through `lock`)."""

    def __init__(self, me_username: str = "tweetbot_bot", me_id: str = "1000") -> None:
        self.state = FakeXState()
        self.lock = threading.RLock()
        # X's 2026 rule for self-serve apps: a reply only to a post that mentions or quotes
        # the bot. Off by default so tests can reply to anything.
        self.restrict_replies = False
        self.add_user(me_username, me_id, name="The Bot")
        self.state.me_id = me_id

    @property
    def me(self) -> dict[str, Any]:
        """The authenticated account (the bot)."""
        return dict(self.state.users[self.state.me_id])

    def add_user(self, username: str, id: str | None = None, name: str | None = None) -> str:
        """Create an account (or return the existing one's id); returns its id."""
        with self.lock:
            existing = self.user_by_username(username)
            if existing is not None:
                return str(existing["id"])
            user_id = str(id) if id is not None else self._new_id()
            self._bump(user_id)
            self.state.users[user_id] = {
                "id": user_id,
                "username": username,
                "name": name or username.replace("_", " ").title(),
                "created_at": "2015-06-01T12:00:00.000Z",
                "description": f"fake account @{username}",
                "protected": False,
                "verified": False,
            }
            return user_id

    def user_by_username(self, username: str) -> dict[str, Any] | None:
        """The account with this username (case-insensitive, as on X), or None."""
        wanted = username.lstrip("@").lower()
        with self.lock:
            for user in self.state.users.values():
                if user["username"].lower() == wanted:
                    return user
        return None

    # ---- internals -------------------------------------------------------------------------

    def _new_id(self) -> str:
        self.state.next_id += 1
        return str(self.state.next_id)

    def _bump(self, some_id: str) -> None:
        # New ids must stay above every id seen so far: since_id relies on id order.
        if some_id.isdigit() and int(some_id) >= self.state.next_id:
            self.state.next_id = int(some_id) + 1

    def _tick(self) -> str:
        self.state.clock += timedelta(minutes=1)
        return _iso(self.state.clock)

    @staticmethod
    def _mention_entity(text: str, username: str) -> dict[str, Any]:
        start = max(text.lower().find("@" + username.lower()), 0)
        return {"start": start, "end": start + len(username) + 1, "username": username}

    def _store_tweet(self, tweet: dict[str, Any], author_id: str) -> dict[str, Any]:
        tweet_id = str(tweet.get("id") or self._new_id())
        self._bump(tweet_id)
        tweet["id"] = tweet_id
        tweet["author_id"] = author_id
        tweet.setdefault("created_at", self._tick())
        tweet.setdefault("conversation_id", tweet_id)
        tweet.setdefault("edit_history_tweet_ids", [tweet_id])
        self.state.tweets[tweet_id] = tweet
        return tweet

    # ---- the API ---------------------------------------------------------------------------

    def route(
        self, method: str, path: str, query: dict[str, str], body: Any, auth: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Answer one API request with (status, JSON body); raises ApiError for problems."""
        if auth is None:
            raise ApiError(401, "Unauthorized", "Unauthorized", "about:blank")
        with self.lock:
            if method == "GET" and path == "/2/users/me":
                self._require_user_context(auth)
                return 200, {"data": self._render_user(self.me, query)}
            match = re.fullmatch(r"/2/users/by/username/([A-Za-z0-9_]+)", path)
            if method == "GET" and match:
                user = self.user_by_username(match.group(1))
                if user is None:
                    # X answers 200 with only `errors` for an unknown username.
                    return 200, {
                        "errors": [
                            {
                                "value": match.group(1),
                                "detail": f"Could not find user with username: [{match.group(1)}].",
                                "title": "Not Found Error",
                                "resource_type": "user",
                                "parameter": "username",
                                "resource_id": match.group(1),
                                "type": "https://api.twitter.com/2/problems/resource-not-found",
                            }
                        ]
                    }
                return 200, {"data": self._render_user(user, query)}
            match = re.fullmatch(r"/2/users/(\d+)/(tweets|mentions)", path)
            if method == "GET" and match:
                return 200, self._timeline(match.group(1), match.group(2), query)
            if method == "POST" and path == "/2/tweets":
                self._require_user_context(auth)
                return 201, self._create_tweet(body)
        raise ApiError(404, "Not Found Error", f"no route for {method} {path}")

    @staticmethod
    def _require_user_context(auth: str) -> None:
        if auth != "oauth1":
            raise ApiError(
                403,
                "Unsupported Authentication",
                "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint."
                "  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 "
                "User Context].",
                "https://api.twitter.com/2/problems/unsupported-authentication",
            )

    @staticmethod
    def _split(query: dict[str, str], name: str, allowed: set[str]) -> list[str]:
        values = [v for v in query.get(name, "").split(",") if v]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ApiError(
                400,
                "Invalid Request",
                f"The `{name}` query parameter value [{unknown[0]}] is not one of the allowed "
                "values",
                "https://api.twitter.com/2/problems/invalid-request",
            )
        return values

    def _render_user(self, user: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        wanted = set(ALWAYS_USER) | set(self._split(query, "user.fields", USER_FIELDS))
        return {k: v for k, v in user.items() if k in wanted}

    def _render_tweet(self, tweet: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        return {k: v for k, v in tweet.items() if k in fields}

    def _timeline(self, user_id: str, which: str, query: dict[str, str]) -> dict[str, Any]:
        if user_id not in self.state.users:
            raise ApiError(
                404, "Not Found Error", f"Could not find user with id: [{user_id}].",
                "https://api.twitter.com/2/problems/resource-not-found",
            )  # fmt: skip
        fields = set(ALWAYS_TWEET) | set(self._split(query, "tweet.fields", TWEET_FIELDS))
        expansions = set(self._split(query, "expansions", EXPANSIONS))
        max_results = int(query.get("max_results", "10"))
        low = 5
        if not low <= max_results <= 100:
            raise ApiError(
                400,
                "Invalid Request",
                f"The `max_results` query parameter value [{max_results}] is not between "
                f"{low} and 100",
                "https://api.twitter.com/2/problems/invalid-request",
            )
        if which == "tweets":
            ids = [t["id"] for t in self.state.tweets.values() if t["author_id"] == user_id]
            reach = TIMELINE_REACH
        else:
            ids = [i for i in self.state.mention_ids] if user_id == self.state.me_id else []
            reach = MENTIONS_REACH
        # Newest first, and only as far back as X lets anyone page.
        ids = sorted(ids, key=int, reverse=True)[:reach]
        since_id = query.get("since_id")
        if since_id:
            ids = [i for i in ids if int(i) > int(since_id)]
        token = query.get("pagination_token")
        start = 0
        if token:
            if not re.fullmatch(r"page_\d+", token):
                raise ApiError(400, "Invalid Request", f"bad pagination_token {token!r}")
            start = int(token.removeprefix("page_"))
        page = ids[start : start + max_results]
        if not page:
            return {"meta": {"result_count": 0}}
        data = [self._render_tweet(self.state.tweets[i], fields) for i in page]
        meta: dict[str, Any] = {
            "result_count": len(page),
            "newest_id": page[0],
            "oldest_id": page[-1],
        }
        if start + max_results < len(ids):
            meta["next_token"] = f"page_{start + max_results}"
        response: dict[str, Any] = {"data": data, "meta": meta}
        includes = self._includes([self.state.tweets[i] for i in page], fields, expansions, query)
        if includes:
            response["includes"] = includes
        return response

    def _includes(
        self,
        tweets: list[dict[str, Any]],
        fields: set[str],
        expansions: set[str],
        query: dict[str, str],
    ) -> dict[str, Any]:
        user_ids: list[str] = []
        referenced: list[dict[str, Any]] = []
        for tweet in tweets:
            if "author_id" in expansions:
                user_ids.append(tweet["author_id"])
            if "in_reply_to_user_id" in expansions and tweet.get("in_reply_to_user_id"):
                user_ids.append(tweet["in_reply_to_user_id"])
            if "referenced_tweets.id" in expansions or "referenced_tweets.id.author_id" in (
                expansions
            ):
                for ref in tweet.get("referenced_tweets", []):
                    other = self.state.tweets.get(ref["id"])
                    if other is not None and other not in referenced:
                        referenced.append(other)
        if "referenced_tweets.id.author_id" in expansions:
            user_ids += [t["author_id"] for t in referenced]
        includes: dict[str, Any] = {}
        users = [self.state.users[u] for u in dict.fromkeys(user_ids) if u in self.state.users]
        if users:
            includes["users"] = [self._render_user(u, query) for u in users]
        if referenced and "referenced_tweets.id" in expansions:
            includes["tweets"] = [self._render_tweet(t, fields) for t in referenced]
        return includes

    def _create_tweet(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ApiError(400, "Invalid Request", "body must be JSON with a `text` string")
        text = body["text"]
        me = self.state.me_id
        if any(t["text"] == text for t in self.state.posted):
            raise ApiError(403, "Forbidden", DUPLICATE_DETAIL, "about:blank")
        tweet: dict[str, Any] = {"text": text}
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if reply_to is not None:
            parent = self.state.tweets.get(str(reply_to))
            if parent is None:
                raise ApiError(
                    400,
                    "Invalid Request",
                    "Your Tweet is in reply to a Tweet that has been deleted or is not visible.",
                    "https://api.twitter.com/2/problems/invalid-request",
                )
            if self.restrict_replies and not self._engages_bot(parent):
                raise ApiError(
                    403,
                    "Forbidden",
                    "Reply to this conversation is not allowed because you have not been "
                    "mentioned or otherwise engaged by the author of the post you are replying to.",
                )
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent["id"]}]
            tweet["in_reply_to_user_id"] = parent["author_id"]
            tweet["conversation_id"] = parent["conversation_id"]
        stored = self._store_tweet(tweet, me)
        self.state.posted.append(dict(stored))
        return {
            "data": {"id": stored["id"], "text": text, "edit_history_tweet_ids": [stored["id"]]}
        }

    def _engages_bot(self, tweet: dict[str, Any]) -> bool:
        me = self.me
        mentioned = f"@{me['username'].lower()}" in str(tweet.get("text", "")).lower()
        quoted = any(
            ref.get("type") == "quoted"
            and self.state.tweets.get(ref.get("id"), {}).get("author_id") == me["id"]
            for ref in tweet.get("referenced_tweets", [])
        )
        return mentioned or quoted or tweet.get("author_id") == me["id"]
