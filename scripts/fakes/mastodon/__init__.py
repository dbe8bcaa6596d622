"""A fake Mastodon instance on loopback, for tests and demos.

`state.py` holds accounts, statuses, notifications and idempotency keys; `server.py` speaks the
REST API the bot uses (an `Idempotency-Key` seen within 3,600 s returns the existing status,
200, whatever the text); `python -m scripts.fakes.mastodon` runs it standalone.
"""

from scripts.fakes.mastodon.server import FakeMastodon

__all__ = ["FakeMastodon"]
