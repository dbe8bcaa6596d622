"""The fake PDS's XRPC routes (`/xrpc/<nsid>`), test helpers and control routes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from scripts.fakes.bluesky.state import Account, PdsState, Record, Session, iso
from scripts.fakes.net.server import Answer, FakeServer, Request

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
PROFILE = "app.bsky.actor.profile"
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
# The real PDS: createSession is limited to 30 per 5 minutes per account.
SESSION_LIMIT = 30
SESSION_WINDOW = 300.0


def _session_answer(session: Session, account: Account) -> dict[str, Any]:
    """What createSession and refreshSession answer: the new tokens and who they are for."""
    return {
        "accessJwt": session.access,
        "refreshJwt": session.refresh,
        "handle": account.handle,
        "did": account.did,
        "active": True,
    }


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str = "") -> None:
        super().__init__(message)
        self.answer = Answer(status, {"error": error, "message": message or error})


class FakePds(FakeServer):
    """A PDS hosting the bot and everyone it talks to, with the AppView reads folded in."""

    def __init__(
        self, handle: str = "tweetbot.test", password: str = "app-pass-1234", bot_label: bool = True
    ) -> None:
        super().__init__()
        bot = Account("did:plc:tweetbotbot", handle, password, bot_label)
        self.state = PdsState(bot=bot, accounts={bot.did: bot})
        self._routes: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("POST", "com.atproto.server.createSession"): self._create_session,
            ("POST", "com.atproto.server.refreshSession"): self._refresh_session,
            ("POST", "com.atproto.repo.createRecord"): self._create_record,
            ("GET", "com.atproto.repo.getRecord"): self._get_record,
            ("GET", "app.bsky.notification.listNotifications"): self._notifications,
            ("POST", "app.bsky.notification.updateSeen"): self._update_seen,
            ("GET", "app.bsky.feed.getAuthorFeed"): self._author_feed,
            ("GET", "app.bsky.feed.getPosts"): self._get_posts,
        }

    # ---- helpers for tests -----------------------------------------------------------------

    def add_user(self, handle: str) -> str:
        """Create an account (no password); its DID."""
        with self.lock:
            existing = self.state.account_by(handle)
            if existing is not None:
                return existing.did
            did = "did:plc:" + re.sub(r"[^a-z0-9]", "", handle.lower())[:20]
            self.state.accounts[did] = Account(did, handle)
            return did

    def add_post(
        self,
        handle: str,
        text: str,
        *,
        reply_to: str | None = None,
        quote: str | None = None,
        created_at: str | None = None,
    ) -> str:
        """A post by `handle` (a reply to the URI `reply_to`, or quoting `quote`); its URI."""
        did = self.add_user(handle)
        with self.lock:
            value: dict[str, Any] = {
                "$type": POST,
                "text": text,
                "createdAt": created_at or iso(time.time()),
            }
            if reply_to is not None:
                parent = self._must_record(reply_to)
                root = parent.value.get("reply", {}).get("root") or {
                    "uri": parent.uri,
                    "cid": parent.cid,
                }
                value["reply"] = {"root": root, "parent": {"uri": parent.uri, "cid": parent.cid}}
            if quote is not None:
                quoted = self._must_record(quote)
                value["embed"] = {
                    "$type": "app.bsky.embed.record",
                    "record": {"uri": quoted.uri, "cid": quoted.cid},
                }
            return self.state.put_record(did, POST, self.state.next_tid(), value).uri

    def add_repost(self, handle: str, uri: str) -> str:
        """`handle` reposts the post at `uri`; the repost record's URI."""
        did = self.add_user(handle)
        with self.lock:
            target = self._must_record(uri)
            value = {
                "$type": REPOST,
                "subject": {"uri": target.uri, "cid": target.cid},
                "createdAt": iso(time.time()),
            }
            return self.state.put_record(
                did, REPOST, self.state.next_tid(), value, repost_of=uri
            ).uri

    def add_mention(self, handle: str, text: str, *, reply_to: str | None = None) -> str:
        """`handle` writes `text` to the bot (a reply when `reply_to`); notified; its URI."""
        uri = self.add_post(handle, text, reply_to=reply_to)
        with self.lock:
            record = self._must_record(uri)
            author = self.state.account_by(handle)
            assert author is not None
            own_parent = reply_to is not None and reply_to.startswith(f"at://{self.state.bot.did}/")
            self.state.notifications.append(
                {
                    "uri": record.uri,
                    "cid": record.cid,
                    "author": {"did": author.did, "handle": author.handle},
                    "reason": "reply" if own_parent else "mention",
                    "record": record.value,
                    "isRead": False,
                    "indexedAt": record.indexed_at,
                    "labels": [],
                }
            )
        return uri

    def add_like(self, handle: str, uri: str) -> None:
        """A `like` notification (which the bot must ignore)."""
        did = self.add_user(handle)
        with self.lock:
            self.state.notifications.append(
                {
                    "uri": f"at://{did}/app.bsky.feed.like/{self.state.next_tid()}",
                    "cid": "bafylike",
                    "author": {"did": did, "handle": handle},
                    "reason": "like",
                    "reasonSubject": uri,
                    "record": {"$type": "app.bsky.feed.like", "subject": {"uri": uri}},
                    "isRead": False,
                    "indexedAt": self.state.indexed_now(),
                    "labels": [],
                }
            )

    def posted(self) -> list[dict[str, Any]]:
        """The bot's own posts, oldest first: uri, rkey, text, reply."""
        with self.lock:
            bot = self.state.bot.did
            return [
                {
                    "uri": r.uri,
                    "rkey": rkey,
                    "text": r.value.get("text"),
                    "reply": r.value.get("reply"),
                    "facets": r.value.get("facets"),
                }
                for (did, collection, rkey), r in sorted(
                    self.state.records.items(), key=lambda kv: kv[1].indexed_at
                )
                if did == bot and collection == POST
            ]

    def set_bot_label(self, on: bool) -> None:
        with self.lock:
            self.state.bot.bot_label = on

    def revoke_sessions(self) -> None:
        """Every issued token stops working (the server-side logout)."""
        with self.lock:
            for session in self.state.sessions.values():
                session.revoked = True

    @property
    def session_creations(self) -> int:
        with self.lock:
            return len(self.state.session_creations)

    # ---- FakeServer ------------------------------------------------------------------------

    def rate_limit_headers(self, *, reset: bool) -> dict[str, str]:
        if not reset:
            return {}
        return {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(int(time.time()) + 60),
            "ratelimit-policy": "3000;w=300",
        }

    def error_payload(self, status: int, message: str) -> Any:
        names = {429: "RateLimitExceeded", 500: "InternalServerError"}
        return {"error": names.get(status, "Error"), "message": message}

    def route(self, request: Request) -> Answer:
        nsid = request.path.removeprefix("/xrpc/")
        handler = self._routes.get((request.method, nsid))
        if handler is None:
            return Answer(501, {"error": "MethodNotImplemented", "message": nsid})
        try:
            with self.lock:
                payload = handler(request)
        except XrpcError as exc:
            return exc.answer
        return Answer(200, payload)

    def control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        spec = body if isinstance(body, dict) else {}
        if method == "POST" and path == "/_control/mention":
            uri = self.add_mention(
                str(spec.get("author", "someone.test")),
                str(spec.get("text", "")),
                reply_to=spec.get("reply_to"),
            )
            return 200, {"uri": uri}
        if method == "GET" and path == "/_control/posted":
            return 200, {"posted": self.posted(), "session_creations": self.session_creations}
        if method == "POST" and path == "/_control/bot_label":
            self.set_bot_label(bool(spec.get("on")))
            return 200, {"ok": True}
        return super().control(method, path, body)

    # ---- XRPC ------------------------------------------------------------------------------

    def _session_of(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        session = self.state.sessions.get(header.removeprefix("Bearer "))
        if session is None or session.revoked:
            raise XrpcError(400, "InvalidToken", "Token could not be verified")
        if session.access_exp <= self.state.now():
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        return session.did

    def _must_record(self, uri: str) -> Record:
        record = self.state.record_at(uri)
        if record is None:
            raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
        return record

    def _create_session(self, request: Request) -> dict[str, Any]:
        body = request.body if isinstance(request.body, dict) else {}
        now = self.state.now()
        recent = [t for t in self.state.session_creations if t > now - SESSION_WINDOW]
        if len(recent) >= SESSION_LIMIT:
            raise XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded")
        account = self.state.account_by(str(body.get("identifier", "")))
        if account is None or account.password is None or body.get("password") != account.password:
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        self.state.session_creations.append(now)
        return _session_answer(self.state.new_session(account), account)

    def _refresh_session(self, request: Request) -> dict[str, Any]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        old = self.state.refresh_tokens.pop(token, None)
        if old is None or old.revoked:
            raise XrpcError(400, "ExpiredToken", "Token has been revoked")
        account = self.state.accounts[old.did]
        self.state.session_refreshes += 1
        return _session_answer(self.state.new_session(account), account)

    def _create_record(self, request: Request) -> dict[str, Any]:
        did = self._session_of(request)
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("repo") not in (did, self.state.accounts[did].handle):
            raise XrpcError(400, "InvalidRequest", "Invalid repo")
        collection = str(body.get("collection") or "")
        value = body.get("record")
        if not isinstance(value, dict) or value.get("$type") != collection:
            raise XrpcError(400, "InvalidRecord", "Invalid $type")
        if collection == POST and len(str(value.get("text", ""))) > 3000:
            raise XrpcError(400, "InvalidRecord", "Record/text must not be longer than 3000")
        rkey = body.get("rkey") or self.state.next_tid()
        if collection == POST and not TID_RE.match(str(rkey)):
            raise XrpcError(400, "InvalidRequest", f"Invalid record key: {rkey}")
        if (did, collection, rkey) in self.state.records:
            # As the real PDS: the MST refuses the duplicate key, nothing is written, and the
            # client gets a bare 500 it cannot tell from a server fault.
            raise XrpcError(500, "InternalServerError", "Internal Server Error")
        record = self.state.put_record(did, collection, str(rkey), value)
        return {"uri": record.uri, "cid": record.cid, "validationStatus": "valid"}

    def _get_record(self, request: Request) -> dict[str, Any]:
        repo = request.arg("repo") or ""
        account = self.state.account_by(repo)
        collection, rkey = request.arg("collection") or "", request.arg("rkey") or ""
        if account is None:
            raise XrpcError(400, "InvalidRequest", f"Could not find repo: {repo}")
        if collection == PROFILE and rkey == "self":
            if not account.bot_label:
                raise XrpcError(400, "RecordNotFound", "Could not locate record")
            value = {
                "$type": PROFILE,
                "displayName": account.handle,
                "labels": {
                    "$type": "com.atproto.label.defs#selfLabels",
                    "values": [{"val": "bot"}],
                },
            }
            return {
                "uri": f"at://{account.did}/{PROFILE}/self",
                "cid": "bafyprofile",
                "value": value,
            }
        record = self.state.records.get((account.did, collection, rkey))
        if record is None:
            raise XrpcError(
                400, "RecordNotFound", f"Could not locate record: at://{repo}/{collection}/{rkey}"
            )
        return {"uri": record.uri, "cid": record.cid, "value": record.value}

    def _page(self, request: Request, key: str, items: list[Any]) -> dict[str, Any]:
        """One page of `items` under `key`, with a `cursor` while more remain (as the PDS)."""
        limit = int(request.arg("limit") or 50)
        start = int(request.arg("cursor") or 0)
        answer: dict[str, Any] = {key: items[start : start + limit]}
        if start + limit < len(items):
            answer["cursor"] = str(start + limit)
        return answer

    def _notifications(self, request: Request) -> dict[str, Any]:
        self._session_of(request)
        newest_first = list(reversed(self.state.notifications))
        return self._page(request, "notifications", newest_first)

    def _update_seen(self, request: Request) -> dict[str, Any]:
        self._session_of(request)
        body = request.body if isinstance(request.body, dict) else {}
        self.state.seen_at.append(str(body.get("seenAt")))
        return {}

    def _post_view(self, record: Record) -> dict[str, Any]:
        did = record.uri.removeprefix("at://").split("/", 1)[0]
        account = self.state.accounts[did]
        return {
            "uri": record.uri,
            "cid": record.cid,
            "author": {"did": did, "handle": account.handle},
            "record": record.value,
            "indexedAt": record.indexed_at,
        }

    def _author_feed(self, request: Request) -> dict[str, Any]:
        account = self.state.account_by(request.arg("actor") or "")
        if account is None:
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        items = []
        for record in self.state.posts_of(account.did):
            if record.repost_of is not None:
                target = self.state.record_at(record.repost_of)
                if target is None:
                    continue
                items.append(
                    {
                        "post": self._post_view(target),
                        "reason": {
                            "$type": "app.bsky.feed.defs#reasonRepost",
                            "by": {"did": account.did, "handle": account.handle},
                            "indexedAt": record.indexed_at,
                        },
                    }
                )
            else:
                items.append({"post": self._post_view(record)})
        return self._page(request, "feed", items)

    def _get_posts(self, request: Request) -> dict[str, Any]:
        self._session_of(request)
        uris = request.query.get("uris", [])
        found = [self.state.record_at(u) for u in uris]
        return {"posts": [self._post_view(r) for r in found if r is not None]}
