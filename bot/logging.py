"""Structured logging: structlog in front, the stdlib logging module as the one sink.

Our own events and the stdlib loggers of apscheduler, tweepy, urllib3 and transformers all pass
through the same processors, so one redactor sees every line: no Twitter secret can reach a log
line, whoever wrote it. Pretty console output on a TTY, JSON lines otherwise.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO
from urllib.parse import quote, quote_plus, unquote

import structlog

LogFormat = Literal["auto", "console", "json"]
REDACTED = "[REDACTED]"

# Loggers of the libraries we drive; they are routed through our pipeline and kept quiet
# enough that their DEBUG chatter (full request headers, say) needs --debug to appear.
THIRD_PARTY_LOGGERS = (
    "apscheduler",
    "tweepy",
    "urllib3",
    "transformers",
    # atproto and Mastodon.py speak through httpx and requests (urllib3).
    "httpx",
    "httpcore",
)
# Loggers whose DEBUG lines are credentials themselves: oauthlib logs the signature base string
# (every OAuth parameter, the consumer key and token doubly percent-encoded) and the signature;
# requests_oauthlib logs the signed Authorization header. Nothing in them helps a user, so they
# stay at WARNING even under --debug, and the redactor below still guards their other levels.
SILENCED_LOGGERS = ("oauthlib", "requests_oauthlib")

# Credentials in shapes that do not depend on knowing the value: bearer tokens in headers (up
# to the end of the header value, so a token with '+', '%' or an escaped newline goes whole),
# and the OAuth 1.0a signature and token fields.
_CREDENTIAL_PATTERNS = [
    re.compile(r"(Bearer\s+)[^\s\"',;]+", re.IGNORECASE),
    re.compile(
        r'(oauth_(?:signature|token|consumer_key)(?:"?\s*[=:]\s*"?|%3D))[^",&\s]+', re.IGNORECASE
    ),
]
# A fragment of a secret shorter than this is not redacted on its own (it would blank out
# ordinary words); whole secrets of any length of 4 and more are.
_MIN_FRAGMENT = 6

_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None


def secret_forms(value: str) -> set[str]:
    """Every shape in which a library may write `value` into a log line or an error.

    Whole and by whitespace-separated fragment (a token with a newline is logged line by line,
    or cut at the newline by a parser); raw, percent-encoded (OAuth headers), doubly
    percent-encoded (signature base strings), form-encoded, escaped as repr and JSON show it
    (an error quoting a header value), and base64 (HTTP Basic, as for the consumer key pair).
    """
    pieces = {value} | {p for p in value.split() if len(p) >= _MIN_FRAGMENT}
    forms: set[str] = set()
    for piece in pieces:
        once = quote(piece, safe="")
        forms |= {
            piece,
            unquote(piece),
            once,
            quote(piece, safe="~"),
            quote(once, safe=""),
            quote_plus(piece),
            piece.encode("unicode_escape").decode("ascii"),
            json.dumps(piece)[1:-1],
            repr(piece)[1:-1],
        }
        raw = piece.encode()
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            forms.add(encoded.decode("ascii").rstrip("="))
    return {f for f in forms if len(f) >= 4}


def register_secrets(values: Iterable[str]) -> None:
    """Add secret values to redact, in every encoding the libraries emit (see secret_forms)."""
    global _secret_pattern
    values = [v for v in values if v and len(v) >= 4]
    for value in values:
        _secrets.update(secret_forms(value))
    # The consumer key and secret travel together as HTTP Basic credentials (the bearer token
    # request): base64 of "key:secret" shares no substring with base64 of either alone.
    for first in values:
        for second in values:
            if first != second:
                pair = f"{first}:{second}".encode()
                _secrets.add(base64.b64encode(pair).decode("ascii").rstrip("="))
    if _secrets:
        # One alternation, longest first, so a secret that contains another is replaced whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact_text(text: str) -> str:
    """Replace every known secret and credential-shaped token in `text`."""
    if _secret_pattern is not None:
        text = _secret_pattern.sub(REDACTED, text)
    for pattern in _CREDENTIAL_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    # Anything else is rendered later via str()/repr(): redact that rendering now.
    return redact_text(repr(value) if not isinstance(value, BaseException) else str(value))


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub secrets from every value of the event."""
    for key, value in list(event_dict.items()):
        if key in ("_record", "_from_structlog"):
            continue
        event_dict[key] = _redact_value(value)
    return event_dict


def _resolve_format(fmt: LogFormat, stream: TextIO) -> Literal["console", "json"]:
    if fmt != "auto":
        return fmt
    return "console" if stream.isatty() else "json"


def configure_logging(
    fmt: LogFormat = "auto",
    *,
    level: int | str = logging.INFO,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Set up structlog and the stdlib root logger; safe to call more than once."""
    stream = stream or sys.stderr
    register_secrets(secrets)
    resolved = _resolve_format(fmt, stream)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Any
    if resolved == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Exceptions become text first, so the redactor sees tracebacks too.
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    root.setLevel(numeric)
    for name in THIRD_PARTY_LOGGERS:
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
        lib.setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
    for name in SILENCED_LOGGERS:
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
        lib.setLevel(max(numeric, logging.WARNING))
    _quiet_transformers(progress_bars=stream.isatty())
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def _quiet_transformers(*, progress_bars: bool) -> None:
    # Progress bars (weights loading, training) are for people at a terminal; in a log file
    # or a container's log they are noise. The variable covers a later import of the Hub code.
    if not progress_bars:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # transformers installs its own handler on import; route it through ours instead.
    if "transformers" in sys.modules:
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_default_handler()
            hf_logging.enable_propagation()
            if not progress_bars:
                hf_logging.disable_progress_bar()
        except Exception:  # pragma: no cover - older or newer transformers layouts
            pass


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to a module name."""
    return structlog.stdlib.get_logger(name)
