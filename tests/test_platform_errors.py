"""Unit tests of how X's answers and transport failures map to the project's errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
import tweepy
from requests.structures import CaseInsensitiveDict

from bot.errors import BotError
from bot.platform import (
    AuthError,
    BadResponse,
    DuplicateContent,
    Forbidden,
    InvalidRequest,
    NotFound,
    PlatformError,
    RateLimited,
    Unavailable,
)
from bot.platform.twitter import TwitterPlatform
from bot.platform.xhttp import (
    describe_body,
    error_for_exception,
    error_for_response,
    parse_reset,
)

WHERE = "GET /2/users/me"


def problem(status: int, title: str, detail: str) -> bytes:
    return json.dumps(
        {"title": title, "detail": detail, "type": "about:blank", "status": status}
    ).encode()


def headers(**values: str) -> CaseInsensitiveDict[str]:
    return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in values.items()})


def test_usable_json_object_is_no_error() -> None:
    assert error_for_response(200, headers(), b'{"data": {"id": "1"}}', WHERE) is None
    assert error_for_response(201, headers(), b'{"data": {}}', WHERE) is None


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"<!DOCTYPE html><html>sign in</html>", "text/html", "an HTML page"),
        (b'{"data": [1, 2', "application/json", "instead of JSON"),
        (b"", "application/json", "an empty body"),
        (b"[1, 2, 3]", "application/json", "not an object"),
    ],
)
def test_unusable_2xx_is_bad_response(body: bytes, content_type: str, says: str) -> None:
    error = error_for_response(200, headers(content_type=content_type), body, WHERE)
    assert isinstance(error, BadResponse)
    assert says in str(error)
    assert str(error).startswith(WHERE)


def test_rate_limit_reads_the_reset_header() -> None:
    error = error_for_response(429, headers(x_rate_limit_reset="1767225600"), b"", WHERE)
    assert isinstance(error, RateLimited)
    assert error.reset_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert "2026-01-01 00:00:00 UTC" in str(error)


@pytest.mark.parametrize("value", [None, "", "soon", "1.5e9", "99999999999999999999"])
def test_rate_limit_without_a_usable_reset(value: str | None) -> None:
    hdrs = headers() if value is None else headers(x_rate_limit_reset=value)
    error = error_for_response(429, hdrs, b"not json", WHERE)
    assert isinstance(error, RateLimited)
    assert error.reset_at is None


def test_parse_reset() -> None:
    assert parse_reset(" 60 ") == datetime.fromtimestamp(60, UTC)
    assert parse_reset("-") is None


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (401, problem(401, "Unauthorized", "Unauthorized"), AuthError),
        (
            403,
            problem(
                403,
                "Forbidden",
                "You are not allowed to create a Tweet with duplicate content.",
            ),
            DuplicateContent,
        ),
        (403, problem(403, "Client Forbidden", "attach your App to a Project"), Forbidden),
        (403, b"<html>forbidden</html>", Forbidden),
        (404, problem(404, "Not Found Error", "Could not find tweet"), NotFound),
        (400, problem(400, "Invalid Request", "max_results out of range"), InvalidRequest),
        (422, b"", InvalidRequest),
        (500, problem(500, "Internal Server Error", "oops"), Unavailable),
        (502, b"<html>Bad Gateway</html>", Unavailable),
        (503, b"", Unavailable),
        (302, b"", BadResponse),
    ],
)
def test_status_mapping(status: int, body: bytes, error_type: type[PlatformError]) -> None:
    error = error_for_response(status, headers(), body, WHERE)
    assert type(error) is error_type
    assert str(error).startswith(WHERE)
    assert str(status) in str(error) or error_type in (DuplicateContent,)


def test_problem_json_detail_is_in_the_message() -> None:
    body = problem(403, "Client Forbidden", "attach your App to a Project")
    error = error_for_response(403, headers(), body, WHERE)
    assert "Client Forbidden: attach your App to a Project" in str(error)


def test_errors_array_detail_is_described() -> None:
    body = json.dumps({"errors": [{"title": "Not Found Error", "detail": "no user"}]}).encode()
    assert describe_body(body) == "Not Found Error: no user"


def test_long_plain_body_is_cut() -> None:
    assert describe_body(b"x" * 500).endswith("...'")


def test_every_platform_error_is_a_bot_error_and_auth_exits_2() -> None:
    # The CLI prints BotErrors as one line; credentials are the user's to fix (exit 2).
    assert issubclass(PlatformError, BotError)
    assert AuthError("x").exit_code == 2
    assert Unavailable("x").exit_code == 1


@pytest.mark.parametrize(
    ("exc", "error_type", "says"),
    [
        (requests.ReadTimeout("read timed out"), Unavailable, "within 1.5s"),
        (requests.ConnectTimeout("connect timed out"), Unavailable, "within 1.5s"),
        (requests.ConnectionError("Connection reset by peer"), Unavailable, "reset by peer"),
        (requests.exceptions.ChunkedEncodingError("cut"), Unavailable, "connection"),
        (requests.exceptions.ContentDecodingError("gzip"), BadResponse, "decoded"),
        (requests.exceptions.InvalidURL("bad"), Unavailable, "failed"),
        (ValueError("weird"), BadResponse, "ValueError"),
    ],
)
def test_exception_mapping(exc: BaseException, error_type: type[PlatformError], says: str) -> None:
    error = error_for_exception(exc, WHERE, 1.5)
    assert type(error) is error_type
    assert says in str(error)
    assert str(error).startswith(WHERE)


def test_platform_errors_pass_through_unchanged() -> None:
    original = Forbidden("already mapped")
    assert error_for_exception(original, WHERE, 1.0) is original


def _response(status: int, body: bytes, **hdrs: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers = headers(**hdrs)
    response.reason = "reason"
    return response


def test_call_maps_tweepy_exceptions_that_escape_the_session() -> None:
    # XSession maps statuses itself; this is the safety net for a tweepy error raised anyway.
    from bot.config import Config, Secrets

    platform = TwitterPlatform(Config(), Secrets(bearer_token="t"))

    def rate_limited() -> None:
        raise tweepy.TooManyRequests(_response(429, b"{}", x_rate_limit_reset="60"))

    with pytest.raises(RateLimited) as caught:
        platform._call(WHERE, rate_limited)
    assert caught.value.reset_at == datetime.fromtimestamp(60, UTC)

    def forbidden() -> None:
        raise tweepy.Forbidden(_response(403, problem(403, "Forbidden", "nope")))

    with pytest.raises(Forbidden, match="nope"):
        platform._call(WHERE, forbidden)

    def timeout() -> None:
        raise requests.ReadTimeout("slow")

    with pytest.raises(Unavailable, match="did not answer"):
        platform._call(WHERE, timeout)

    def missing_field() -> None:
        raise KeyError("id")

    with pytest.raises(BadResponse, match="KeyError"):
        platform._call(WHERE, missing_field)
