"""A fake Mastodon instance on loopback, for tests and demos.

`state.py` holds accounts, statuses, notifications and idempotency keys; `server.py` speaks the
REST API the bot uses (an `Idempotency-Key` seen within 3,600 s returns the existing status,
200, whatever the text); `python -m tests.fakemasto` runs it standalone.
"""

from tests.fakemasto.server import FakeMastodon

__all__ = ["FakeMastodon"]
