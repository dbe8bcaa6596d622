"""Structured logging: structlog in front, the stdlib logging module as the one sink.

Our own events and the stdlib loggers of apscheduler, tweepy, urllib3 and transformers all pass
through the same processors, so one redactor sees every line: no Twitter secret can reach a log
line, whoever wrote it. Pretty console output on a TTY, JSON lines otherwise.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO
from urllib.parse import quote, unquote

import structlog

LogFormat = Literal["auto", "console", "json"]
REDACTED = "[REDACTED]"

# Loggers of the libraries we drive; they are routed through our pipeline and kept quiet
# enough that their DEBUG chatter (full request headers, say) needs --debug to appear.
THIRD_PARTY_LOGGERS = (
    "apscheduler",
    "tweepy",
    "urllib3",
    "requests_oauthlib",
    "transformers",
    # atproto and Mastodon.py speak through httpx and requests (urllib3).
    "httpx",
    "httpcore",
)

# Credentials in shapes that do not depend on knowing the value: bearer tokens in headers,
# and the OAuth 1.0a signature and token fields.
_CREDENTIAL_PATTERNS = [
    re.compile(r"(Bearer\s+)[A-Za-z0-9%._~+/=-]+", re.IGNORECASE),
    re.compile(r'(oauth_(?:signature|token|consumer_key)="?)[^",&\s]+', re.IGNORECASE),
]

_secrets: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Add secret values to redact, with their URL-encoded and -decoded forms.

    OAuth headers carry keys percent-encoded, and X issues bearer tokens already encoded.
    """
    for value in values:
        if value and len(value) >= 4:
            _secrets.update({value, quote(value, safe=""), unquote(value)})


def redact_text(text: str) -> str:
    """Replace every known secret and credential-shaped token in `text`."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
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
