"""The HTTP layer under Mastodon.py: a requests session that maps every answer to our errors.

Mastodon.py 2.3 sends everything through its `session` (`internals.py`, `__api_request`), so
this session sees each answer first: a 429 becomes `RateLimited` with the reset from
`X-RateLimit-Reset` (an ISO 8601 time on Mastodon) or `Retry-After`, other failures become the
matching error, and a 2xx that is not JSON becomes `BadResponse`. Mastodon.py wraps anything its
session raises in `MastodonNetworkError` (the original stays its `__context__`), so the adapter
unwraps it. `read_only` refuses every method but GET before a socket is opened (the dry run).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from bot.platform.base import BadResponse, PlatformError
from bot.platform.httperrors import error_for_request_exception, error_for_status, rate_limited
from bot.platform.xhttp import WriteRefused, describe_body


def parse_mastodon_reset(headers: Mapping[str, str]) -> datetime | None:
    """When a 429's window resets: `X-RateLimit-Reset` (ISO 8601 or epoch) or `Retry-After`."""
    value = (headers.get("x-ratelimit-reset") or "").strip()
    if value:
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (ValueError, OverflowError, OSError):
            pass
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    retry = (headers.get("retry-after") or "").strip()
    if retry:
        try:
            return datetime.now(UTC) + timedelta(seconds=max(float(retry), 0.0))
        except ValueError:
            try:
                return parsedate_to_datetime(retry).astimezone(UTC)
            except (TypeError, ValueError):
                return None
    return None


def _error_text(body: bytes, content_type: str) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return describe_body(body, content_type)
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return repr(parsed["error"][:120])
    return describe_body(body, content_type)


def mastodon_error(
    status: int, headers: Mapping[str, str], body: bytes, where: str
) -> PlatformError | None:
    """The error an answer means, or None when it is a usable 2xx JSON answer."""
    content_type = headers.get("content-type", "")
    if 200 <= status < 300:
        if not body.strip():
            return None  # some endpoints answer an empty object or nothing
        try:
            json.loads(body)
        except ValueError:
            return BadResponse(
                f"{where}: Mastodon answered {status} with "
                f"{describe_body(body, content_type)} instead of JSON"
            )
        return None
    if status == 429:
        return rate_limited("Mastodon", where, parse_mastodon_reset(headers))
    what = _error_text(body, content_type)
    # A 422 lands in InvalidRequest: Mastodon's "validation failed" (too long, a reply to a
    # deleted status...).
    return error_for_status(
        "Mastodon",
        status,
        what,
        where,
        rejected="the token",
        auth_hint="check MASTODON_ACCESS_TOKEN",
    )


def error_for_requests(exc: BaseException, where: str, timeout: float) -> PlatformError:
    """The error a failed HTTP exchange means (timeouts, dropped connections...)."""
    return error_for_request_exception("Mastodon", exc, where, timeout, type_only=True)


class MastodonSession(requests.Session):
    """A requests session for Mastodon.py that raises our errors for every unusable answer."""

    def __init__(self, timeout: float, *, read_only: bool = False) -> None:
        super().__init__()
        self.timeout = timeout
        self.read_only = read_only

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send one request; raise a PlatformError unless the answer is usable."""
        method = (method.decode() if isinstance(method, bytes) else method).upper()
        url = url.decode() if isinstance(url, bytes) else url
        where = f"{method} {urlsplit(url).path}"
        if self.read_only and method not in ("GET", "HEAD", "OPTIONS"):
            raise WriteRefused(f"{where}: refused, this Mastodon connection is read-only")
        kwargs["timeout"] = self.timeout
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            raise error_for_requests(exc, where, self.timeout) from exc
        error = mastodon_error(response.status_code, response.headers, response.content, where)
        if error is not None:
            response.close()
            raise error
        return response
