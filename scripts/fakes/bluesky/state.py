"""What the fake PDS remembers: accounts, records, sessions, notifications."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def iso(moment: float) -> str:
    """Epoch seconds as the ISO 8601 UTC form atproto uses."""
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def make_jwt(payload: dict[str, Any]) -> str:
    """An unsigned-looking JWT (the client reads the payload; only the fake checks it)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}.c2ln"


def fake_cid(value: Any) -> str:
    """A CID-looking string, stable for the same record."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
    return "bafyrei" + digest[:52]


@dataclass
class Account:
    did: str
    handle: str
    password: str | None = None
    bot_label: bool = False


@dataclass
class Record:
    uri: str
    cid: str
    value: dict[str, Any]
    indexed_at: str
    repost_of: str | None = None  # a repost shows the post at this URI


@dataclass
class Session:
    did: str
    access: str
    refresh: str
    access_exp: float
    revoked: bool = False


@dataclass
class PdsState:
    """Everything the fake PDS holds; guarded by the server's lock."""

    bot: Account
    accounts: dict[str, Account] = field(default_factory=dict)  # by DID
    records: dict[tuple[str, str, str], Record] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    sessions: dict[str, Session] = field(default_factory=dict)  # by access token
    refresh_tokens: dict[str, Session] = field(default_factory=dict)
    session_creations: list[float] = field(default_factory=list)
    session_refreshes: int = 0
    seen_at: list[str] = field(default_factory=list)
    access_ttl: float = 7200.0
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _last_us: int = 0

    def now(self) -> float:
        return time.time()

    def next_tid(self) -> str:
        """A fresh, increasing TID, as a PDS makes for records without a chosen key."""
        micros = max(int(self.now() * 1_000_000), self._last_us + 1)
        self._last_us = micros
        value = (micros << 10) | (next(self._clock) & 1023)
        chars = []
        for _ in range(13):
            chars.append(_TID_ALPHABET[value & 31])
            value >>= 5
        return "".join(reversed(chars))

    def indexed_now(self) -> str:
        # Distinct, increasing indexing times even within one millisecond.
        moment = max(self.now(), getattr(self, "_last_indexed", 0.0) + 0.001)
        self._last_indexed = moment
        return iso(moment)

    def account_by(self, actor: str) -> Account | None:
        """An account by DID or handle."""
        if actor in self.accounts:
            return self.accounts[actor]
        return next((a for a in self.accounts.values() if a.handle == actor), None)

    def new_session(self, account: Account) -> Session:
        stamp = self.now()
        serial = len(self.session_creations) + self.session_refreshes
        access = make_jwt(
            {
                "scope": "com.atproto.appPass",
                "sub": account.did,
                "iat": int(stamp),
                "exp": int(stamp + self.access_ttl),
                "jti": f"a{serial}",
            }
        )
        refresh = make_jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": account.did,
                "iat": int(stamp),
                "exp": int(stamp + 90 * 86400),
                "jti": f"r{serial}",
            }
        )
        session = Session(account.did, access, refresh, stamp + self.access_ttl)
        self.sessions[access] = session
        self.refresh_tokens[refresh] = session
        return session

    def put_record(
        self,
        did: str,
        collection: str,
        rkey: str,
        value: dict[str, Any],
        *,
        repost_of: str | None = None,
    ) -> Record:
        uri = f"at://{did}/{collection}/{rkey}"
        record = Record(uri, fake_cid([uri, value]), value, self.indexed_now(), repost_of)
        self.records[(did, collection, rkey)] = record
        return record

    def posts_of(self, did: str) -> list[Record]:
        """An account's posts and reposts, newest first."""
        mine = [
            r
            for (owner, collection, _), r in self.records.items()
            if owner == did and collection in ("app.bsky.feed.post", "app.bsky.feed.repost")
        ]
        return sorted(mine, key=lambda r: r.indexed_at, reverse=True)

    def record_at(self, uri: str) -> Record | None:
        did, collection, rkey = uri.removeprefix("at://").split("/", 2)
        return self.records.get((did, collection, rkey))
