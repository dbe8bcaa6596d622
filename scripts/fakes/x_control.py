"""The fake X's control API: how a test (in process) or another process (over HTTP, at
`/_control/...`) sets the scene, queues faults and reads what the bot did.
"""

from __future__ import annotations

import re
from typing import Any

from scripts.fakes.x_state import FAULTS, Fault, RecordedRequest, XApi


class XControl(XApi):
    """Scene setting (`add_user`, `add_tweets`, `add_mention`, `load_state`), faults
    (`fail_next`) and reading back (`posted`, `requests`), on top of the in-memory API."""

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
