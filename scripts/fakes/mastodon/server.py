"""The fake Mastodon instance's REST routes, test helpers and control routes."""

from __future__ import annotations

import re
import time
from typing import Any

from scripts.fakes.mastodon.state import IDEMPOTENCY_SECONDS, Account, MastodonState, Status, iso
from scripts.fakes.net.server import Answer, FakeServer, Request

_STATUSES_OF = re.compile(r"^/api/v1/accounts/(\w+)/statuses/?$")
_URL = re.compile(r"https?://\S+")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.answer = Answer(status, {"error": message})


def _length(text: str) -> int:
    # Mastodon counts a URL as 23 characters (the instance's characters_reserved_per_url).
    return len(_URL.sub("x" * 23, text))


class FakeMastodon(FakeServer):
    """One instance hosting the bot's account and the accounts it meets."""

    def __init__(
        self, username: str = "tweetbot", token: str = "masto-token-1234", bot: bool = True
    ) -> None:
        super().__init__()
        self.domain = "127.0.0.1"  # replaced by host:port at start, so sources resolve here
        account = Account("1", username, self.domain, token, bot)
        self.state = MastodonState(domain=self.domain, bot=account, accounts={"1": account})

    def start(self, port: int = 0) -> FakeMastodon:
        super().start(port)
        with self.lock:
            self.domain = f"127.0.0.1:{self.port}"
            self.state.domain = self.domain
            for account in self.state.accounts.values():
                account.domain = self.domain
        return self

    # ---- helpers for tests -----------------------------------------------------------------

    def add_user(self, username: str, *, domain: str | None = None) -> Account:
        """An account on this instance (or a remote one, by `domain`)."""
        with self.lock:
            for account in self.state.accounts.values():
                if account.username == username and account.domain == (domain or self.domain):
                    return account
            account = Account(self.state.new_id(), username, domain or self.domain)
            self.state.accounts[account.id] = account
            return account

    def add_status(
        self,
        username: str,
        text: str,
        *,
        reply_to: str | None = None,
        reblog_of: str | None = None,
        content_html: str | None = None,
    ) -> str:
        """A status by `username`; its id."""
        account = self.add_user(username)
        with self.lock:
            status = Status(
                self.state.new_id(),
                account,
                text,
                self.state.now(),
                in_reply_to=self.state.statuses.get(reply_to or ""),
                reblog=self.state.statuses.get(reblog_of or ""),
                content_html=content_html,
            )
            self.state.statuses[status.id] = status
            return status.id

    def add_mention(self, username: str, text: str, *, reply_to: str | None = None) -> str:
        """`username` mentions the bot; a `mention` notification; the status id."""
        status_id = self.add_status(username, text, reply_to=reply_to)
        with self.lock:
            status = self.state.statuses[status_id]
            self.state.notifications.append(
                {
                    "id": self.state.new_id(),
                    "type": "mention",
                    "created_at": iso(status.created),
                    "account_id": status.account.id,
                    "status_id": status_id,
                }
            )
        return status_id

    def add_favourite(self, username: str, status_id: str) -> None:
        """A `favourite` notification (which the bot must ignore)."""
        account = self.add_user(username)
        with self.lock:
            self.state.notifications.append(
                {
                    "id": self.state.new_id(),
                    "type": "favourite",
                    "created_at": iso(self.state.now()),
                    "account_id": account.id,
                    "status_id": status_id,
                }
            )

    def posted(self) -> list[dict[str, Any]]:
        """The bot's statuses, oldest first."""
        with self.lock:
            return [
                {
                    "id": s.id,
                    "text": s.text,
                    "visibility": s.visibility,
                    "spoiler_text": s.spoiler_text,
                    "in_reply_to_id": s.in_reply_to.id if s.in_reply_to else None,
                }
                for s in self.state.statuses.values()
                if s.account is self.state.bot and s.reblog is None
            ]

    def advance(self, seconds: float) -> None:
        """Move the instance's clock on (idempotency keys expire after 3,600 s)."""
        with self.lock:
            self.state.clock_offset += seconds

    def set_bot_flag(self, on: bool) -> None:
        with self.lock:
            self.state.bot.bot = on

    # ---- FakeServer ------------------------------------------------------------------------

    def rate_limit_headers(self, *, reset: bool) -> dict[str, str]:
        if not reset:
            return {}
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": iso(time.time() + 60),
        }

    def error_payload(self, status: int, message: str) -> Any:
        return {"error": "Too many requests" if status == 429 else message}

    def route(self, request: Request) -> Answer:
        try:
            with self.lock:
                payload = self._route(request)
        except ApiError as exc:
            return exc.answer
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "299",
            "X-RateLimit-Reset": iso(time.time() + 300),
        }
        return Answer(200, payload, headers)

    def control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        spec = body if isinstance(body, dict) else {}
        if method == "POST" and path == "/_control/mention":
            status_id = self.add_mention(
                str(spec.get("author", "someone")),
                str(spec.get("text", "")),
                reply_to=spec.get("reply_to"),
            )
            return 200, {"id": status_id}
        if method == "GET" and path == "/_control/posted":
            return 200, {"posted": self.posted()}
        if method == "POST" and path == "/_control/advance":
            self.advance(float(spec.get("seconds", 0)))
            return 200, {"ok": True}
        return super().control(method, path, body)

    # ---- REST ------------------------------------------------------------------------------

    def _caller(self, request: Request) -> Account:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        for account in self.state.accounts.values():
            if account.token and account.token == token:
                return account
        raise ApiError(401, "The access token is invalid")

    def _route(self, request: Request) -> Any:
        path, method = request.path, request.method
        if method == "GET" and path == "/api/v1/accounts/verify_credentials":
            return self._caller(request).view(self.domain) | {"source": {"privacy": "public"}}
        if method == "GET" and path.rstrip("/") == "/api/v2/instance":
            return {
                "domain": self.domain,
                "title": "Fake Mastodon",
                "version": "4.3.0",
                "configuration": {
                    "statuses": {
                        "max_characters": self.state.max_characters,
                        "max_media_attachments": 4,
                        "characters_reserved_per_url": 23,
                    }
                },
            }
        if method == "GET" and path.rstrip("/") == "/api/v1/instance":
            return {"uri": self.domain, "title": "Fake Mastodon", "version": "4.3.0"}
        if method == "POST" and path == "/api/v1/statuses":
            return self._post_status(request)
        if method == "GET" and path == "/api/v1/notifications":
            return self._notifications(request)
        if method == "GET" and path == "/api/v1/accounts/lookup":
            return self._lookup(request)
        match = _STATUSES_OF.match(path)
        if method == "GET" and match:
            return self._account_statuses(request, match.group(1))
        raise ApiError(404, "Record not found")

    def _post_status(self, request: Request) -> Any:
        account = self._caller(request)
        body = request.body if isinstance(request.body, dict) else {}
        key = request.headers.get("idempotency-key")
        now = self.state.now()
        if key:
            seen = self.state.idempotency.get((account.id, key))
            if seen is not None and now - seen[1] < IDEMPOTENCY_SECONDS:
                # As Mastodon: the same key within the hour is the status it made, whatever
                # the text; nothing new is created.
                return self.state.status_view(self.state.statuses[seen[0]])
        text = str(body.get("status") or "")
        spoiler = str(body.get("spoiler_text") or "")
        if not text.strip():
            raise ApiError(422, "Validation failed: Text can't be blank")
        if _length(text) + len(spoiler) > self.state.max_characters:
            raise ApiError(
                422,
                f"Validation failed: Text character limit of {self.state.max_characters} exceeded",
            )
        reply_to = body.get("in_reply_to_id")
        parent = self.state.statuses.get(str(reply_to)) if reply_to else None
        if reply_to and parent is None:
            raise ApiError(404, "Record not found")
        status = Status(
            self.state.new_id(),
            account,
            text,
            now,
            visibility=str(body.get("visibility") or "public"),
            spoiler_text=spoiler,
            in_reply_to=parent,
        )
        self.state.statuses[status.id] = status
        if key:
            self.state.idempotency[(account.id, key)] = (status.id, now)
        return self.state.status_view(status)

    def _page(self, request: Request, items: list[Any], id_of: Any) -> list[Any]:
        """Newest first, honouring since_id, max_id and limit (ids compared as numbers)."""
        since = request.arg("since_id")
        max_id = request.arg("max_id")
        limit = min(int(request.arg("limit") or 20), 40)
        chosen = [
            item
            for item in sorted(items, key=lambda i: int(id_of(i)), reverse=True)
            if (not since or int(id_of(item)) > int(since))
            and (not max_id or int(id_of(item)) < int(max_id))
        ]
        return chosen[:limit]

    def _notifications(self, request: Request) -> Any:
        self._caller(request)
        types = request.query.get("types[]") or request.query.get("types") or []
        items = [n for n in self.state.notifications if not types or n["type"] in types]
        page = self._page(request, items, lambda n: n["id"])
        views = []
        for n in page:
            status = self.state.statuses[n["status_id"]]
            views.append(
                {
                    "id": n["id"],
                    "type": n["type"],
                    "created_at": n["created_at"],
                    "account": self.state.accounts[n["account_id"]].view(self.domain),
                    "status": self.state.status_view(status),
                }
            )
        return views

    def _lookup(self, request: Request) -> Any:
        acct = (request.arg("acct") or "").lstrip("@")
        username, _, domain = acct.partition("@")
        for account in self.state.accounts.values():
            if account.username == username and domain in ("", account.domain):
                return account.view(self.domain)
        raise ApiError(404, "Record not found")

    def _account_statuses(self, request: Request, account_id: str) -> Any:
        if account_id not in self.state.accounts:
            raise ApiError(404, "Record not found")
        exclude_reblogs = request.arg("exclude_reblogs") in ("true", "1", "True")
        items = [
            s
            for s in self.state.statuses.values()
            if s.account.id == account_id and not (exclude_reblogs and s.reblog is not None)
        ]
        return [self.state.status_view(s) for s in self._page(request, items, lambda s: s.id)]
