"""The HTTP status and transport-failure mapping shared by the three networks' HTTP layers.

X (`xhttp`), Mastodon (`mastohttp`) and Bluesky (`bskyhttp`) each read their answers their own
way (headers, bodies, SDK exceptions) but turn the result into the same project errors with the
same wording; `network` ("X", "Mastodon", "Bluesky") is the name the messages carry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import requests

from bot.platform.base import (
    AuthError,
    BadResponse,
    Forbidden,
    InvalidRequest,
    NotFound,
    PlatformError,
    RateLimited,
    Unavailable,
)


def rate_limited(network: str, where: str, reset_at: datetime | None) -> RateLimited:
    """The RateLimited error for a 429, naming the reset time when the network gave one."""
    until = f"until {reset_at:%Y-%m-%d %H:%M:%S} UTC" if reset_at else "(no reset time given)"
    return RateLimited(f"{where}: rate limited by {network} {until}", reset_at)


def did_not_answer(network: str, where: str, timeout: float) -> Unavailable:
    """The Unavailable error for a request that timed out after `timeout` seconds."""
    return Unavailable(f"{where}: {network} did not answer within {timeout:g}s")


def error_for_status(
    network: str,
    status: int,
    what: str,
    where: str,
    *,
    auth_hint: str,
    rejected: str = "the credentials",
    auth: bool = False,
    not_found: bool = False,
    refine_403: Callable[[str], PlatformError | None] | None = None,
) -> PlatformError:
    """The project's error for a non-2xx answer other than a 429 (see `rate_limited`).

    `what` is a safe description of the body. A 429 that reaches here is an InvalidRequest:
    each network finds its reset time its own way, so its caller handles 429 first.

    `auth` and `not_found` let a network whose error names are more precise than its statuses
    (Bluesky's "ExpiredToken", "RecordNotFound") force those outcomes; `refine_403` may turn a
    403 into a more specific error (X's duplicate content) by returning it, or keep it by
    returning None. `rejected` and `auth_hint` say what was refused and what to check.
    """
    if status == 401 or auth:
        return AuthError(f"{where}: {network} rejected {rejected} ({status} {what}); {auth_hint}")
    if status == 403:
        refined = refine_403(what) if refine_403 is not None else None
        if refined is not None:
            return refined
        return Forbidden(f"{where}: {network} refused the request (403 {what})")
    if status == 404 or not_found:
        return NotFound(f"{where}: not found ({status} {what})")
    if 400 <= status < 500:
        return InvalidRequest(f"{where}: {network} rejected the request ({status} {what})")
    if status >= 500:
        return Unavailable(f"{where}: {network} is unavailable ({status} {what})")
    return BadResponse(f"{where}: unexpected answer from {network} ({status} {what})")


def error_for_request_exception(
    network: str, exc: BaseException, where: str, timeout: float, *, type_only: bool = False
) -> PlatformError:
    """The project's error for a failed `requests` exchange (timeout, reset, refused...).

    By default the message carries the (shortened) reason; with `type_only` it names only the
    exception's type and every requests failure other than a timeout counts as a connection
    failure (Mastodon's wording).
    """
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, requests.Timeout):
        return did_not_answer(network, where, timeout)
    if type_only:
        if isinstance(exc, requests.RequestException):
            return Unavailable(f"{where}: connection to {network} failed ({type(exc).__name__})")
        return BadResponse(
            f"{where}: unexpected failure talking to {network} ({type(exc).__name__})"
        )
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return Unavailable(f"{where}: connection to {network} failed ({_short(exc)})")
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return BadResponse(f"{where}: {network} sent a body that cannot be decoded ({_short(exc)})")
    if isinstance(exc, requests.RequestException):
        return Unavailable(f"{where}: request to {network} failed ({_short(exc)})")
    return BadResponse(
        f"{where}: unexpected failure talking to {network} ({type(exc).__name__}: {exc})"
    )


def _short(exc: BaseException) -> str:
    # urllib3 nests its reasons deeply; the innermost line is the one a person can act on.
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
