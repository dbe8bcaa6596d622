"""Errors a user can cause or fix, each carrying the exit code the CLI uses for it.

The CLI prints `str(error)` as one line and exits with `exit_code`; everything else that
escapes a command is an unexpected failure (exit 1, traceback only with --debug).
"""

from __future__ import annotations


class BotError(Exception):
    """A failure with a clear one-line message for the user (exit 1)."""

    exit_code = 1


class UsageError(BotError):
    """The user asked for something that cannot work as asked (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration file is missing, malformed or holds a bad value (exit 2)."""


class StoreError(BotError):
    """The database cannot be opened or used safely (exit 1); the file is left untouched."""
