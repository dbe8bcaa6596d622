"""`python -m scripts.fakes.mastodon [--port N]`: the fake Mastodon instance, until interrupted."""

from __future__ import annotations

from scripts.fakes.mastodon.server import FakeMastodon
from scripts.fakes.serve import fake_parser, serve_until_interrupted


def main() -> None:
    """Serve the fake instance; print `listening on URL` once it accepts connections."""
    parser = fake_parser("python -m scripts.fakes.mastodon")
    parser.add_argument("--username", default="tweetbot")
    parser.add_argument("--token", default="masto-token-1234")
    args = parser.parse_args()
    serve_until_interrupted(FakeMastodon(args.username, args.token), args.port)


if __name__ == "__main__":
    main()
