"""Logs: JSON off a TTY, console when forced, stdlib loggers routed through, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import structlog

from bot.logging import configure_logging, get_logger

SECRETS = {
    "TWITTER_CONSUMER_KEY": "ckSECRETvalue0001",
    "TWITTER_CONSUMER_SECRET": "csSECRETvalue0002",
    "TWITTER_ACCESS_TOKEN": "1234-atSECRETvalue0003",
    "TWITTER_ACCESS_TOKEN_SECRET": "asSECRETvalue0004",
    "TWITTER_BEARER_TOKEN": "AAAAbearer%2FSECRET0005",
}


def _configure(fmt: str = "json") -> io.StringIO:
    stream = io.StringIO()
    configure_logging(fmt, secrets=SECRETS.values(), stream=stream, level="DEBUG")  # type: ignore[arg-type]
    return stream


def test_json_lines_off_a_tty_with_stdlib_loggers_routed_through() -> None:
    stream = _configure("auto")
    get_logger("bot.test").info("posted", tweet_id="42")
    logging.getLogger("apscheduler.scheduler").warning("job missed by %d seconds", 3)
    logging.getLogger("tweepy.client").warning("rate limited")
    logging.getLogger("urllib3.connectionpool").warning("retrying")
    logging.getLogger("transformers.modeling_utils").warning("weights missing")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert records[0]["event"] == "posted" and records[0]["tweet_id"] == "42"
    assert records[1]["event"] == "job missed by 3 seconds"
    assert [r["logger"] for r in records[1:]] == [
        "apscheduler.scheduler",
        "tweepy.client",
        "urllib3.connectionpool",
        "transformers.modeling_utils",
    ]
    assert all("timestamp" in r and "level" in r for r in records)


def test_console_format_is_not_json() -> None:
    stream = _configure("console")
    get_logger("bot.test").info("hello", n=1)
    line = stream.getvalue().strip()
    assert "hello" in line and "n=1" in line
    assert not line.startswith("{")


def test_no_secret_reaches_any_log_line() -> None:
    stream = _configure("json")
    log = get_logger("bot.test")
    ck, cs, at, as_, bearer = SECRETS.values()
    log.info(f"event text with {ck}", header=f"Bearer {bearer}", nested={"k": [cs, at]})
    logging.getLogger("requests_oauthlib.oauth1_auth").debug(
        'Authorization: OAuth oauth_consumer_key="%s", oauth_token="%s"', ck, at
    )
    logging.getLogger("urllib3.connectionpool").debug("GET /2/users/me?token=%s", as_)
    try:
        raise RuntimeError(f"failed with secret {as_} and {bearer.replace('%2F', '/')}")
    except RuntimeError:
        log.exception("boom")
    with structlog.contextvars.bound_contextvars(secret=cs):
        log.warning("bound")
    # The bearer token as X issues it is URL-encoded; the decoded form must not leak either.
    output = stream.getvalue()
    assert output.count("[REDACTED]") >= 8
    for value in [*SECRETS.values(), bearer.replace("%2F", "/")]:
        assert value not in output, value


def test_secrets_never_appear_in_cli_output(tmp_path: Path) -> None:
    env = {**os.environ, **SECRETS}
    (tmp_path / "config.toml").write_text("[bot]\nname = 'x'\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--debug", "--log-format", "json", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for value in SECRETS.values():
        assert value not in result.stdout + result.stderr
