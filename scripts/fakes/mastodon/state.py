"""What the fake Mastodon instance remembers."""

from __future__ import annotations

import html
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Mastodon keeps an Idempotency-Key for this long per account.
IDEMPOTENCY_SECONDS = 3600.0


def iso(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def to_html(text: str) -> str:
    """Status text as Mastodon renders it: paragraphs, <br> for line breaks, escaped."""
    paragraphs = [p for p in text.split("\n\n")]
    return "".join(
        "<p>" + "<br />".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


@dataclass
class Account:
    id: str
    username: str
    domain: str
    token: str | None = None
    bot: bool = False

    def view(self, local_domain: str) -> dict[str, Any]:
        acct = self.username if self.domain == local_domain else f"{self.username}@{self.domain}"
        return {
            "id": self.id,
            "username": self.username,
            "acct": acct,
            "display_name": self.username.title(),
            "bot": self.bot,
            "url": f"https://{self.domain}/@{self.username}",
            "created_at": "2024-01-01T00:00:00.000Z",
            "note": "",
            "locked": False,
        }


@dataclass
class Status:
    id: str
    account: Account
    text: str
    created: float
    visibility: str = "public"
    spoiler_text: str = ""
    in_reply_to: Status | None = None
    reblog: Status | None = None
    content_html: str | None = None


@dataclass
class MastodonState:
    domain: str
    bot: Account
    accounts: dict[str, Account] = field(default_factory=dict)
    statuses: dict[str, Status] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    idempotency: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    max_characters: int = 500
    clock_offset: float = 0.0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(110_000_000_000))

    def now(self) -> float:
        return time.time() + self.clock_offset

    def new_id(self) -> str:
        return str(next(self._ids))

    def status_view(self, status: Status) -> dict[str, Any]:
        account = status.account
        return {
            "id": status.id,
            "uri": f"https://{account.domain}/users/{account.username}/statuses/{status.id}",
            "url": f"https://{account.domain}/@{account.username}/{status.id}",
            "created_at": iso(status.created),
            "account": account.view(self.domain),
            "content": status.content_html
            if status.content_html is not None
            else ("" if status.reblog else to_html(status.text)),
            "visibility": status.visibility,
            "spoiler_text": status.spoiler_text,
            "sensitive": bool(status.spoiler_text),
            "in_reply_to_id": status.in_reply_to.id if status.in_reply_to else None,
            "in_reply_to_account_id": status.in_reply_to.account.id if status.in_reply_to else None,
            "reblog": self.status_view(status.reblog) if status.reblog else None,
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "reblogs_count": 0,
            "favourites_count": 0,
            "replies_count": 0,
        }
