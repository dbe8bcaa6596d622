"""`python -m scripts.fakes.bluesky [--port N]`: run the fake PDS until interrupted."""

from __future__ import annotations

from scripts.fakes.bluesky.server import FakePds
from scripts.fakes.serve import fake_parser, serve_until_interrupted


def main() -> None:
    """Serve the fake PDS; print `listening on URL` once it accepts connections."""
    parser = fake_parser("python -m scripts.fakes.bluesky")
    parser.add_argument("--handle", default="tweetbot.test")
    parser.add_argument("--password", default="app-pass-1234")
    args = parser.parse_args()
    serve_until_interrupted(FakePds(args.handle, args.password), args.port)


if __name__ == "__main__":
    main()
