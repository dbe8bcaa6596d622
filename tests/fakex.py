"""A fake X API v2 server on loopback, for tests, the daemon's end-to-end runs and manual demos.

It speaks the parts of API v2 the bot uses, the way X does: `tweet.fields`, `user.fields` and
`expansions` decide what each object carries (fields that were not asked for are absent),
timelines page newest first with `meta.next_token`, `since_id` and `max_results` are honoured,
user timelines reach back 3,200 tweets and mentions 800, errors are problem JSON, and a second
tweet with the same text is refused with X's duplicate-content 403.

Tests drive it in-process through the `fake_x` fixture (`add_user`, `add_tweets`,
`add_mention`, `posted`, `requests`, `fail_next`). Other processes drive it over HTTP through
`/_control/...` (see `ControlHandler`), and `python -m tests.fakex --port 0 --state FILE`
runs it standalone, printing `listening on http://127.0.0.1:PORT` once it accepts connections.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

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


class FakeX:
    """The fake X API: an HTTP server on 127.0.0.1 plus the control methods tests call."""

    def __init__(self, me_username: str = "tweetbot_bot", me_id: str = "1000") -> None:
        self.state = FakeXState()
        self.lock = threading.RLock()
        self.slow_seconds = 3.0
        # (consumer secret, token secret): when set, OAuth 1.0a signatures are checked as X
        # does, against X's own URL, whatever address the request was sent to.
        self.oauth_secrets: tuple[str, str] | None = None
        # X's 2026 rule for self-serve apps: a reply only to a post that mentions or quotes
        # the bot. Off by default so tests can reply to anything.
        self.restrict_replies = False
        # The x-rate-limit-remaining every successful answer carries.
        self.rate_limit_remaining = 899
        self._stopping = threading.Event()
        self.add_user(me_username, me_id, name="The Bot")
        self.state.me_id = me_id
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeX:
        """Serve on 127.0.0.1:`port` (0 picks a free one) in a background thread."""
        handler = type("BoundHandler", (FakeXHandler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        # A short poll keeps `stop()` (and so every test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow faults in progress are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeX is not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What `[twitter] api_base_url` should be set to."""
        return f"http://127.0.0.1:{self.port}"

    # ---- control: setting the scene -------------------------------------------------------

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

    def add_tweets(self, username: str, tweets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add API v2 tweet dicts to `username`'s timeline (the account is created if needed).

        Missing `id`, `created_at`, `conversation_id` and `edit_history_tweet_ids` are filled
        in; ids increase in the order given, so the last tweet is the newest. Returns the
        stored tweets.
        """
        author_id = self.add_user(username)
        stored = []
        with self.lock:
            for tweet in tweets:
                stored.append(self._store_tweet(dict(tweet), author_id))
        return stored

    def add_mention(
        self,
        text: str | None = None,
        *,
        author: str = "fan_account",
        id: str | None = None,
        in_reply_to: str | None = None,
        created_at: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A tweet by `author` that mentions the bot (a reply when `in_reply_to` is a tweet id)."""
        author_id = self.add_user(author)
        bot = self.me["username"]
        tweet: dict[str, Any] = {"text": text if text is not None else f"@{bot} hello there"}
        if id is not None:
            tweet["id"] = id
        if created_at is not None:
            tweet["created_at"] = created_at
        with self.lock:
            if in_reply_to is not None:
                parent = self.state.tweets.get(str(in_reply_to))
                tweet["referenced_tweets"] = [{"type": "replied_to", "id": str(in_reply_to)}]
                if parent is not None:
                    tweet["in_reply_to_user_id"] = parent["author_id"]
                    tweet["conversation_id"] = parent["conversation_id"]
            tweet.update(fields)
            tweet.setdefault("entities", {"mentions": [self._mention_entity(tweet["text"], bot)]})
            stored = self._store_tweet(tweet, author_id)
            self.state.mention_ids.append(stored["id"])
            return stored

    def fail_next(
        self, path_regex: str, kind: str, count: int = 1, *, method: str | None = None
    ) -> None:
        """Serve fault `kind` (see FAULTS) instead of the next `count` matching requests.

        `path_regex` is searched in the request's path and query string; `method` narrows it.
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        with self.lock:
            self.state.faults.append(
                Fault(re.compile(path_regex), kind, count, method.upper() if method else None)
            )

    # ---- control: reading what happened ---------------------------------------------------

    @property
    def posted(self) -> list[dict[str, Any]]:
        """Every tweet created through POST /2/tweets, oldest first."""
        with self.lock:
            return [dict(t) for t in self.state.posted]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request received (faulted ones included), oldest first."""
        with self.lock:
            return list(self.state.requests)

    def requests_for(self, method: str, path_regex: str = ".*") -> list[RecordedRequest]:
        """The recorded requests with this method whose path matches `path_regex`."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    def load_state(self, spec: dict[str, Any]) -> None:
        """Load a scene: {"me": {...}, "users": [...], "tweets": {...}, "mentions": [...]}.

        `tweets` maps usernames to tweet dicts; `mentions` are `add_mention` keyword dicts.
        """
        me = spec.get("me")
        if me:
            user_id = self.add_user(me["username"], me.get("id"), me.get("name"))
            self.state.me_id = user_id
        for user in spec.get("users", []):
            self.add_user(user["username"], user.get("id"), user.get("name"))
        for username, tweets in spec.get("tweets", {}).items():
            self.add_tweets(username, tweets)
        for mention in spec.get("mentions", []):
            self.add_mention(**mention)

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

    def take_fault(self, method: str, target: str) -> str | None:
        """The fault to serve for this request, if one is pending (and count it down).

        `target` is the path with its query string, so a pattern can pick out a later page
        (`/mentions\\?.*pagination_token`).
        """
        with self.lock:
            for fault in self.state.faults:
                if fault.method not in (None, method) or not fault.pattern.search(target):
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self.state.faults.remove(fault)
                return fault.kind
        return None

    def wait_slow(self) -> None:
        """Sleep `slow_seconds`, cut short when the server stops."""
        self._stopping.wait(self.slow_seconds)

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

    def control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """The HTTP control API for other processes (`/_control/...`)."""
        body = body if isinstance(body, dict) else {}
        if method == "GET" and path == "/_control/posted":
            return 200, self.posted
        if method == "GET" and path == "/_control/requests":
            return 200, [r.__dict__ for r in self.requests]
        if method == "POST" and path == "/_control/users":
            return 200, {"id": self.add_user(body["username"], body.get("id"), body.get("name"))}
        if method == "POST" and path == "/_control/tweets":
            return 200, self.add_tweets(body["username"], body["tweets"])
        if method == "POST" and path == "/_control/mentions":
            return 200, self.add_mention(**body)
        if method == "POST" and path == "/_control/faults":
            self.fail_next(
                body["path"], body["kind"], body.get("count", 1), method=body.get("method")
            )
            return 200, {"ok": True}
        if method == "POST" and path == "/_control/state":
            self.load_state(body)
            return 200, {"ok": True}
        return 404, {"error": f"no control route {method} {path}"}


class FakeXHandler(BaseHTTPRequestHandler):
    """One HTTP request against a `FakeX` (bound per server as the class attribute `fake`)."""

    fake: FakeX
    protocol_version = "HTTP/1.1"  # keep-alive, like X; a dropped connection is then visible

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest output is for test failures

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if path.startswith("/_control/"):
            status, payload = self.fake.control(method, path, body)
            self._send(status, json.dumps(payload).encode())
            return
        header = self.headers.get("Authorization", "")
        auth = "oauth1" if header.startswith("OAuth ") else "bearer" if header.startswith(
            "Bearer "
        ) else None  # fmt: skip
        with self.fake.lock:
            self.fake.state.requests.append(RecordedRequest(method, path, query, body, auth))
        if auth == "oauth1" and self.fake.oauth_secrets and not self._signature_ok(method, header):
            unauthorized = {"title": "Unauthorized", "detail": "Unauthorized", "status": 401}
            self._send(401, json.dumps(unauthorized).encode())
            return
        fault = self.fake.take_fault(method, self.path)
        if fault is not None and self._serve_fault(fault):
            return
        try:
            status, payload = self.fake.route(method, path, query, body, auth)
        except ApiError as exc:
            self._send(
                exc.status, json.dumps(exc.body).encode(), content_type="application/problem+json"
            )
            return
        remaining = self.fake.rate_limit_remaining
        self._send(status, json.dumps(payload).encode(), headers=self._rate_headers(remaining))

    def _signature_ok(self, method: str, header: str) -> bool:
        """Check the OAuth 1.0a HMAC-SHA1 signature against X's URL for this path."""
        from types import SimpleNamespace

        from oauthlib.oauth1.rfc5849 import signature

        assert self.fake.oauth_secrets is not None
        split = urlsplit(self.path)
        params = signature.collect_parameters(
            uri_query=split.query, headers={"Authorization": header}
        )
        sent = dict(signature.collect_parameters(
            headers={"Authorization": header}, exclude_oauth_signature=False
        )).get("oauth_signature", "")  # fmt: skip
        request = SimpleNamespace(
            http_method=method,
            uri="https://api.twitter.com" + split.path,
            params=params,
            signature=sent,
        )
        consumer_secret, token_secret = self.fake.oauth_secrets
        return bool(signature.verify_hmac_sha1(request, consumer_secret, token_secret))

    @staticmethod
    def _rate_headers(remaining: int) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time()) + 900),
        }

    def _serve_fault(self, kind: str) -> bool:
        """Answer with fault `kind`; False when the request should then be served normally."""

        def problem(status: int, title: str, detail: str, kind: str = "about:blank") -> bytes:
            return json.dumps(
                {"title": title, "detail": detail, "type": kind, "status": status}
            ).encode()

        too_many = problem(429, "Too Many Requests", "Too Many Requests")
        if kind == "rate_limit":
            headers = self._rate_headers(remaining=0)
            headers["x-rate-limit-reset"] = str(int(time.time()) + 60)
            self._send(429, too_many, headers=headers)
        elif kind == "rate_limit_no_reset":
            self._send(429, too_many)
        elif kind == "rate_limit_garbled_reset":
            self._send(429, too_many, headers={"x-rate-limit-reset": "soon-ish"})
        elif kind == "unauthorized":
            self._send(401, problem(401, "Unauthorized", "Unauthorized"))
        elif kind == "forbidden":
            self._send(
                403,
                problem(
                    403,
                    "Client Forbidden",
                    "When authenticating requests to the Twitter API v2 endpoints, you must use "
                    "keys and tokens from a Twitter developer App that is attached to a Project.",
                    "https://api.twitter.com/2/problems/client-forbidden",
                ),
            )
        elif kind == "not_found":
            self._send(404, problem(404, "Not Found Error", "Not Found"))
        elif kind == "server_error":
            self._send(500, problem(500, "Internal Server Error", "Something went wrong"))
        elif kind == "unavailable_html":
            self._send(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                       content_type="text/html")  # fmt: skip
        elif kind == "html_200":
            self._send(200, b"<!DOCTYPE html><html><body>Please sign in</body></html>",
                       content_type="text/html")  # fmt: skip
        elif kind == "malformed_json":
            self._send(200, b'{"data": [{"id": "1", "text": "cut of')
        elif kind == "missing_fields":
            self._send(200, json.dumps({"data": [{"txt": "no id here"}]}).encode())
        elif kind == "slow":
            self.fake.wait_slow()
            self._send(503, problem(503, "Service Unavailable", "slow and then gave up"))
        elif kind == "slow_then_ok":
            self.fake.wait_slow()
            return False
        elif kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        return True

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            # The client gave up (a timeout test); nothing left to tell it.
            self.close_connection = True


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    """A running fake X API v2 server; point `[twitter] api_base_url` at `fake_x.base_url`."""
    server = FakeX().start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone until interrupted (for daemon subprocess tests and demos)."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakex", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state", help="JSON scene to load (see FakeX.load_state)")
    args = parser.parse_args(argv)
    fake = FakeX()
    if args.state:
        with open(args.state, encoding="utf-8") as handle:
            fake.load_state(json.load(handle))
    fake.start(args.port)
    print(f"listening on {fake.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
