"""The HTTP layer under tweepy: base URL, timeouts, and X's answers turned into our errors.

tweepy 4.17's `Client.request` hardcodes `https://api.twitter.com`, passes no timeout to
requests, and turns statuses into its own exceptions only after building them from the body
(`int()` of a garbled `x-rate-limit-reset` raises ValueError there). Its `session` attribute is
a public `requests.Session`, so we replace it with `XSession`: every request is sent to
`[twitter] api_base_url`, carries `[twitter] timeout`, and every answer that is not a usable 2xx
JSON object is raised as one of the project's errors right here, before tweepy touches it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from bot.logging import get_logger
from bot.platform.base import BadResponse, DuplicateContent, PlatformError
from bot.platform.httperrors import error_for_request_exception, error_for_status, rate_limited

log = get_logger(__name__)

# The host tweepy builds every URL on (tweepy/client.py, BaseClient.request).
TWEEPY_HOST = "https://api.twitter.com"

# X's wording for the duplicate-content 403 (checked in DESIGN.md); matched loosely.
_DUPLICATE_MARKER = "duplicate content"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WriteRefused(PlatformError):
    """A read-only session was asked to send a write; nothing left the process."""


def parse_reset(value: str | None) -> datetime | None:
    """`x-rate-limit-reset` (epoch seconds) as a UTC datetime; None when missing or garbled."""
    if value is None:
        return None
    try:
        seconds = int(value.strip())
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def describe_body(body: bytes, content_type: str = "") -> str:
    """A short, safe description of an error body for a log line or an error message."""
    text = body.decode("utf-8", "replace").strip()
    if "html" in content_type.lower() or text.lower().startswith(("<!doctype", "<html")):
        return "an HTML page"
    problem = _problem(body)
    if problem:
        return problem
    if not text:
        return "an empty body"
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def _problem(body: bytes) -> str:
    """`title: detail` of an X problem JSON (or of its first `errors` entry), else ""."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(parsed, dict):
        return ""
    candidates: list[Any] = [parsed]
    if isinstance(parsed.get("errors"), list):
        candidates += parsed["errors"]
    for item in candidates:
        if not isinstance(item, dict):
            continue
        title = str(item.get("title") or "").strip()
        detail = str(item.get("detail") or item.get("message") or "").strip()
        if title or detail:
            return f"{title}: {detail}" if title and detail and title != detail else title or detail
    return ""


def error_for_response(
    status: int, headers: Mapping[str, str], body: bytes, where: str
) -> PlatformError | None:
    """The error an answer from X means, or None when it is a usable 2xx JSON object.

    `headers` must look names up case-insensitively (requests' headers do). `where` says which
    request it was ("GET /2/users/me") so every message carries its context.
    """
    content_type = headers.get("content-type", "")
    if 200 <= status < 300:
        try:
            parsed = json.loads(body)
        except ValueError:
            return BadResponse(
                f"{where}: X answered {status} with {describe_body(body, content_type)}"
                " instead of JSON"
            )
        if not isinstance(parsed, dict):
            return BadResponse(f"{where}: X answered {status} with JSON that is not an object")
        return None
    if status == 429:
        return rate_limited("X", where, parse_reset(headers.get("x-rate-limit-reset")))
    what = describe_body(body, content_type)

    def duplicate(what: str) -> PlatformError | None:
        if _DUPLICATE_MARKER in what.lower():
            return DuplicateContent(f"{where}: X refused a duplicate tweet ({what})")
        return None

    return error_for_status(
        "X",
        status,
        what,
        where,
        auth_hint="check the TWITTER_* variables",
        refine_403=duplicate,
    )


def error_for_exception(exc: BaseException, where: str, timeout: float) -> PlatformError:
    """The error a failed HTTP exchange means (timeouts, resets, refused connections...)."""
    return error_for_request_exception("X", exc, where, timeout)


class XSession(requests.Session):
    """A requests session for tweepy that honours the base URL and timeout and maps errors.

    With `read_only`, any method other than GET/HEAD/OPTIONS is refused before a socket is
    touched: the dry-run reader is built on one, so it cannot write even if asked.
    """

    def __init__(self, base_url: str, timeout: float, *, read_only: bool = False) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.read_only = read_only

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send one request to X; raise a PlatformError unless the answer is usable."""
        method = method.decode() if isinstance(method, bytes) else method
        url = url.decode() if isinstance(url, bytes) else url
        route = url[len(TWEEPY_HOST) :] if url.startswith(TWEEPY_HOST) else url
        where = f"{method.upper()} {route.split('?')[0]}"
        if self.read_only and method.upper() not in _SAFE_METHODS:
            raise WriteRefused(f"{where}: refused, this connection to X is read-only (dry run)")
        # X has no use for a request that hangs longer than this; requests applies it to the
        # connect and to every read, so a silent server fails after about `timeout`.
        kwargs["timeout"] = self.timeout
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            raise error_for_exception(exc, where, self.timeout) from exc
        error = error_for_response(response.status_code, response.headers, response.content, where)
        if error is not None:
            response.close()
            raise error
        if response.headers.get("x-rate-limit-remaining") == "0":
            # The next call to this endpoint will be a 429; say so while it is still news.
            reset_at = parse_reset(response.headers.get("x-rate-limit-reset"))
            log.warning("rate limit used up", request=where, reset_at=reset_at)
        return response

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send a prepared request to `base_url` instead of X's own host.

        The URL is swapped only now, after the OAuth 1.0a signature was computed for
        https://api.twitter.com: a forwarding proxy passes the request on to X, which checks
        the signature against its own URL, so signing the proxy's URL would fail there.
        """
        if request.url and request.url.startswith(TWEEPY_HOST):
            request.url = self.base_url + request.url[len(TWEEPY_HOST) :]
            if self.trust_env:
                # requests chose environment proxies (and NO_PROXY exemptions) for X's host;
                # choose again for the host we really connect to.
                settings = self.merge_environment_settings(request.url, {}, None, None, None)
                kwargs["proxies"] = settings["proxies"]
        return super().send(request, **kwargs)
