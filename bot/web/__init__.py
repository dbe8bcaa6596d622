"""The operator console (`tweetbot web`): an ASGI app over the bot's database."""

from __future__ import annotations

import ipaddress
import os

from bot.config import Config
from bot.errors import UsageError
from bot.logging import get_logger, register_secrets
from bot.web.app import Console, create_app
from bot.web.security import WEB_TOKEN_ENV

__all__ = ["WEB_TOKEN_ENV", "Console", "create_app", "serve", "web_token"]

log = get_logger(__name__)


def web_token(environ: dict[str, str] | None = None) -> str:
    """The console token from `TWEETBOT_WEB_TOKEN`; a UsageError (exit 2) naming it if unset."""
    env = os.environ if environ is None else environ
    token = env.get(WEB_TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(
            f"tweetbot web needs {WEB_TOKEN_ENV} in the environment (the console's password; "
            "e.g. export it from `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)"
        )
    return token


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(config: Config, token: str, host: str = "127.0.0.1", port: int = 8350) -> None:
    """Run the console under uvicorn until interrupted."""
    import uvicorn

    register_secrets([token])  # the log redactor masks it wherever it might appear
    if not _is_loopback(host):
        log.warning(
            "the console listens beyond this machine; put it behind https (a TLS proxy)",
            host=host,
        )
    app = create_app(Console(config, token))
    log.info("console listening", url=f"http://{host}:{port}/")
    # log_config=None: uvicorn's loggers go through the project's logging setup.
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=True)
