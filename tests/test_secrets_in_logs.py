"""No part of a secret reaches any log, at DEBUG too, in any encoding the libraries emit.

Real tweepy calls (OAuth 1.0a signed, checked by the fake X server; bearer reads) run with
DEBUG logging, and everything written is scanned for each secret, each of its fragments, and
their percent-encoded, doubly percent-encoded (OAuth signature base strings), base64 and
escaped forms. The secrets hold the characters that broke redaction before: spaces, '+', '%',
'/', '=' and, in the bearer token, a newline.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from bot.config import Secrets, config_from_mapping
from bot.logging import configure_logging, get_logger, redact_text
from bot.platform.base import PlatformError
from bot.platform.twitter import TwitterPlatform
from scripts.fakes import FakeX

ROOT = Path(__file__).resolve().parent.parent

ODD = Secrets(
    consumer_key="ck+Odd/Key=Value",
    consumer_secret="csSecretQ9 Wv8spaced+and%pct",
    access_token="1000-atTok+en%2Fslash",
    access_token_secret="ats/Plus+Eq=Pct%41end",
    bearer_token="AAAAbearer%2Fhead+part\nTAILsecretBearerPart",
)


def leak_forms(secret: str) -> set[str]:
    """Every shape a secret could take in a log line: whole, in fragments, and encoded."""
    pieces = {secret, *(p for p in secret.split() if len(p) >= 4)}
    forms = set()
    for piece in pieces:
        forms |= {
            piece,
            quote(piece, safe=""),
            quote(quote(piece, safe=""), safe=""),
            quote_plus(piece),
            piece.encode("unicode_escape").decode(),
            json.dumps(piece)[1:-1],
            base64.b64encode(piece.encode()).decode().rstrip("="),
            base64.urlsafe_b64encode(piece.encode()).decode().rstrip("="),
        }
    return {f for f in forms if len(f) >= 4}


def assert_no_leak(output: str, secrets: Secrets) -> None:
    for secret in secrets.values():
        for form in leak_forms(secret):
            assert form not in output, f"{form!r} (a form of a secret) reached the output"
    # OAuth 1.0a: neither signature base strings nor signatures, whoever logs them.
    assert "Base signing string" not in output
    assert "POST&https%3A%2F%2F" not in output and "GET&https%3A%2F%2F" not in output
    assert "Signature:" not in output


def test_real_tweepy_calls_at_debug_leak_no_part_of_any_secret(
    fake_x: FakeX, capfd: pytest.CaptureFixture[str]
) -> None:
    buffer = io.StringIO()
    configure_logging("json", level="DEBUG", secrets=ODD.values(), stream=buffer)
    log = get_logger("test.secrets")
    fake_x.oauth_secrets = (ODD.consumer_secret, ODD.access_token_secret)
    config = config_from_mapping({"twitter": {"api_base_url": fake_x.base_url, "timeout": "2s"}})
    user = TwitterPlatform(config, ODD)
    assert user.me().username == "tweetbot_bot"  # the fake checked the real signature
    fake_x.add_mention("@tweetbot_bot hello", author="alice")
    assert user.post("a signed post")
    assert user.mentions(None)
    # A bearer token with a newline cannot be sent; the error must not carry its tail.
    reader = TwitterPlatform(config, Secrets(bearer_token=ODD.bearer_token), read_only=True)
    fake_x.add_user("someone")
    try:
        list(reader.user_tweets("someone", None))
    except (PlatformError, ValueError) as exc:
        log.exception("bearer read failed")
        printed = redact_text(str(exc))
    else:
        printed = ""
    captured = capfd.readouterr()
    output = buffer.getvalue() + captured.out + captured.err + printed
    assert '"logger": "urllib3.connectionpool"' in output  # DEBUG really was on
    assert_no_leak(output, ODD)


def test_redaction_takes_odd_tokens_whole() -> None:
    buffer = io.StringIO()
    configure_logging("json", level="DEBUG", secrets=ODD.values(), stream=buffer)
    bearer = ODD.bearer_token
    get_logger("test.secrets").warning(
        "header check failed",
        header=f"Authorization: Bearer {bearer}",
        as_repr=repr(bearer),
        quoted=quote(bearer, safe=""),
    )
    assert_no_leak(buffer.getvalue(), ODD)
    # An unknown token in a Bearer header is still cut whole, up to the end of the header.
    assert redact_text("Authorization: Bearer abc+d%2Fe=f/g") == "Authorization: Bearer [REDACTED]"


def test_the_cli_at_debug_with_odd_secrets_prints_no_part_of_them(
    tmp_path: Path, fake_x: FakeX
) -> None:
    fake_x.add_user("someone")
    (tmp_path / "config.toml").write_text(
        f'[twitter]\napi_base_url = "{fake_x.base_url}"\ntimeout = "2s"\n'
        '[source]\nusernames = ["someone"]\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWITTER_")}
    env.update(PYTHONPATH=str(ROOT), TWITTER_BEARER_TOKEN=ODD.bearer_token)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--debug", "--log-format", "json", "fetch"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0  # the token cannot be sent as a header
    assert_no_leak(done.stdout + done.stderr, Secrets(bearer_token=ODD.bearer_token))
