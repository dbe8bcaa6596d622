"""Shared parts of the fake network servers (fake Bluesky PDS, fake Mastodon): an HTTP server on
loopback with recorded requests, injectable faults and a `/_control/` API for other processes."""
