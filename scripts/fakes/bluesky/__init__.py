"""A fake Bluesky PDS (plus the AppView reads the bot uses) on loopback, for tests and demos.

`state.py` holds the repositories, sessions and notifications; `server.py` speaks XRPC over
HTTP the way a PDS does (a duplicate record key is a bare 500, a missing record a 400
`RecordNotFound`, `createSession` is limited to 30 per 5 minutes); `python -m scripts.fakes.bluesky`
runs it standalone for a daemon in another process.
"""

from scripts.fakes.bluesky.server import FakePds

__all__ = ["FakePds"]
