"""Under the atproto SDK: the HTTP transport (dry-run guard) and its errors mapped to ours.

The SDK (atproto 0.0.73, `atproto_client/request.py`) raises `UnauthorizedError` for 401 and
403, `BadRequestError` for 400, `RateLimitExceededError` for 429 (reset from `ratelimit-reset`,
epoch seconds), `NetworkError` for 409/413/502 and for transport failures it recognises,
`InvokeTimeoutError` for timeouts and `RequestException` for everything else. Any other httpx
error (a dropped connection is `httpx.RemoteProtocolError`) escapes raw: it is mapped here too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from atproto_client import exceptions as atp
from atproto_client.models.common import XrpcError

from bot.platform.base import AuthError, BadResponse, PlatformError, Unavailable
from bot.platform.httperrors import did_not_answer, error_for_status, rate_limited
from bot.platform.xhttp import WriteRefused

# XRPC error names that mean the session or the password is wrong, not the request.
_AUTH_ERRORS = frozenset(
    {"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthFactorTokenRequired"}
)
# Calls a read-only (dry-run) client may still make: they open or renew the session and
# write nothing to the repository.
SESSION_CALLS = frozenset({"com.atproto.server.createSession", "com.atproto.server.refreshSession"})


class GuardedTransport(httpx.BaseTransport):
    """httpx transport that, when `read_only`, refuses every POST except opening a session.

    A refused request never reaches a socket: the dry-run client cannot write, whatever code
    holds it ("mark notifications seen" is a POST too, and refused).
    """

    def __init__(self, *, read_only: bool, inner: httpx.BaseTransport | None = None) -> None:
        self.read_only = read_only
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request`, unless it is a write on a read-only transport."""
        nsid = request.url.path.rsplit("/", 1)[-1]
        if self.read_only and request.method != "GET" and nsid not in SESSION_CALLS:
            raise WriteRefused(f"POST {nsid}: refused, this Bluesky connection is read-only")
        return self._inner.handle_request(request)

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._inner.close()


def xrpc_error_name(exc: atp.RequestErrorBase) -> str:
    """The XRPC `error` name of a failed call ("RecordNotFound", "ExpiredToken"...), or ""."""
    content = exc.response.content if exc.response is not None else None
    if isinstance(content, XrpcError):
        return str(content.error or "")
    if isinstance(content, dict):
        return str(content.get("error") or "")
    return ""


def describe_error(exc: atp.RequestErrorBase) -> str:
    """A short, safe description of an error answer (never the whole body)."""
    response = exc.response
    if response is None:
        return type(exc).__name__
    content = response.content
    if isinstance(content, XrpcError):
        return f"{content.error}: {content.message}" if content.message else str(content.error)
    body = content if isinstance(content, bytes) else json.dumps(content).encode()
    text = body.decode("utf-8", "replace").strip()
    if text.lower().startswith(("<!doctype", "<html")):
        return "an HTML page"
    if not text:
        return "an empty body"
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def _reset_at(exc: atp.RateLimitExceededError) -> datetime | None:
    if exc.reset_at is not None:
        return exc.reset_at
    if exc.retry_after is not None:
        return datetime.now(UTC) + timedelta(seconds=exc.retry_after)
    return None


def error_for_atproto(exc: BaseException, where: str, timeout: float) -> PlatformError:
    """The project's error for anything the SDK (or httpx under it) raised."""
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, atp.RateLimitExceededError):
        return rate_limited("Bluesky", where, _reset_at(exc))
    if isinstance(exc, atp.InvokeTimeoutError | httpx.TimeoutException):
        return did_not_answer("Bluesky", where, timeout)
    if isinstance(exc, atp.RequestErrorBase):
        return _for_status(exc, where)
    if isinstance(exc, httpx.HTTPError):
        # Not wrapped by the SDK (RemoteProtocolError: the server closed the connection).
        return Unavailable(f"{where}: connection to Bluesky failed ({type(exc).__name__}: {exc})")
    if isinstance(exc, ValueError):
        # The SDK parses a JSON content type with pydantic_core, which raises ValueError.
        return BadResponse(f"{where}: Bluesky answered with malformed JSON ({exc})")
    if isinstance(exc, atp.LoginRequiredError):
        return AuthError(f"{where}: not signed in to Bluesky")
    return BadResponse(f"{where}: unexpected answer from Bluesky ({type(exc).__name__}: {exc})")


def _for_status(exc: atp.RequestErrorBase, where: str) -> PlatformError:
    response = exc.response
    if response is None:
        # A transport failure the SDK recognised (connection refused, reset...).
        cause = exc.__cause__ or exc.__context__
        return Unavailable(f"{where}: connection to Bluesky failed ({cause or type(exc).__name__})")
    status = response.status_code
    name = xrpc_error_name(exc)
    # A bare 500 (what a duplicate record key gets) is Unavailable: whether the post exists
    # cannot be told from the answer, so the caller reconciles with getRecord.
    return error_for_status(
        "Bluesky",
        status,
        describe_error(exc),
        where,
        auth_hint="check [bluesky] handle and BLUESKY_APP_PASSWORD",
        auth=name in _AUTH_ERRORS,
        not_found=name == "RecordNotFound",
    )


def json_object(content: Any, where: str) -> dict[str, Any]:
    """A 2xx answer's JSON object, or BadResponse (HTML, bytes, a list...)."""
    if isinstance(content, dict):
        return content
    if isinstance(content, bytes):
        text = content.decode("utf-8", "replace").strip().lower()
        html = text.startswith(("<!doctype", "<html"))
        what = "an HTML page" if html else "a body that is not JSON"
        return _raise(BadResponse(f"{where}: Bluesky answered with {what}"))
    return _raise(BadResponse(f"{where}: Bluesky answered with JSON that is not an object"))


def _raise(error: PlatformError) -> Any:
    raise error
