"""The fake X on loopback: an HTTP server over the in-memory API and its control routes.

Tests start it through the `fake_x` fixture (tests/fixtures_x.py); benches and demos start it
themselves, and `python -m scripts.fakes.x_server --port 0 --state FILE` runs it standalone,
printing `listening on http://127.0.0.1:PORT` once it accepts connections.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scripts.fakes.serve import fake_parser, serve_until_interrupted
from scripts.fakes.x_control import XControl
from scripts.fakes.x_state import ApiError, RecordedRequest


class FakeX(XControl):
    """The fake X API: an HTTP server on 127.0.0.1 plus the control methods tests call."""

    def __init__(self, me_username: str = "tweetbot_bot", me_id: str = "1000") -> None:
        super().__init__(me_username, me_id)
        self.slow_seconds = 3.0
        # (consumer secret, token secret): when set, OAuth 1.0a signatures are checked as X
        # does, against X's own URL, whatever address the request was sent to.
        self.oauth_secrets: tuple[str, str] | None = None
        # The x-rate-limit-remaining every successful answer carries.
        self.rate_limit_remaining = 899
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, port: int = 0) -> FakeX:
        """Serve on 127.0.0.1:`port` (0 picks a free one) in a background thread."""
        handler = type("BoundHandler", (FakeXHandler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        # A short poll keeps `stop()` (and so every test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow faults in progress are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeX is not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What `[twitter] api_base_url` should be set to."""
        return f"http://127.0.0.1:{self.port}"

    # ---- control: setting the scene -------------------------------------------------------

    def wait_slow(self) -> None:
        """Sleep `slow_seconds`, cut short when the server stops."""
        self._stopping.wait(self.slow_seconds)


class FakeXHandler(BaseHTTPRequestHandler):
    """One HTTP request against a `FakeX` (bound per server as the class attribute `fake`)."""

    fake: FakeX
    protocol_version = "HTTP/1.1"  # keep-alive, like X; a dropped connection is then visible

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest output is for test failures

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if path.startswith("/_control/"):
            status, payload = self.fake.control(method, path, body)
            self._send(status, json.dumps(payload).encode())
            return
        header = self.headers.get("Authorization", "")
        auth = "oauth1" if header.startswith("OAuth ") else "bearer" if header.startswith(
            "Bearer "
        ) else None  # fmt: skip
        with self.fake.lock:
            self.fake.state.requests.append(RecordedRequest(method, path, query, body, auth))
        if auth == "oauth1" and self.fake.oauth_secrets and not self._signature_ok(method, header):
            unauthorized = {"title": "Unauthorized", "detail": "Unauthorized", "status": 401}
            self._send(401, json.dumps(unauthorized).encode())
            return
        fault = self.fake.take_fault(method, self.path)
        if fault is not None and self._serve_fault(fault):
            return
        try:
            status, payload = self.fake.route(method, path, query, body, auth)
        except ApiError as exc:
            self._send(
                exc.status, json.dumps(exc.body).encode(), content_type="application/problem+json"
            )
            return
        remaining = self.fake.rate_limit_remaining
        self._send(status, json.dumps(payload).encode(), headers=self._rate_headers(remaining))

    def _signature_ok(self, method: str, header: str) -> bool:
        """Check the OAuth 1.0a HMAC-SHA1 signature against X's URL for this path."""
        from types import SimpleNamespace

        from oauthlib.oauth1.rfc5849 import signature

        assert self.fake.oauth_secrets is not None
        split = urlsplit(self.path)
        params = signature.collect_parameters(
            uri_query=split.query, headers={"Authorization": header}
        )
        sent = dict(signature.collect_parameters(
            headers={"Authorization": header}, exclude_oauth_signature=False
        )).get("oauth_signature", "")  # fmt: skip
        request = SimpleNamespace(
            http_method=method,
            uri="https://api.twitter.com" + split.path,
            params=params,
            signature=sent,
        )
        consumer_secret, token_secret = self.fake.oauth_secrets
        return bool(signature.verify_hmac_sha1(request, consumer_secret, token_secret))

    @staticmethod
    def _rate_headers(remaining: int) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time()) + 900),
        }

    def _serve_fault(self, kind: str) -> bool:
        """Answer with fault `kind`; False when the request should then be served normally."""

        def problem(status: int, title: str, detail: str, kind: str = "about:blank") -> bytes:
            return json.dumps(
                {"title": title, "detail": detail, "type": kind, "status": status}
            ).encode()

        too_many = problem(429, "Too Many Requests", "Too Many Requests")
        if kind == "rate_limit":
            headers = self._rate_headers(remaining=0)
            headers["x-rate-limit-reset"] = str(int(time.time()) + 60)
            self._send(429, too_many, headers=headers)
        elif kind == "rate_limit_no_reset":
            self._send(429, too_many)
        elif kind == "rate_limit_garbled_reset":
            self._send(429, too_many, headers={"x-rate-limit-reset": "soon-ish"})
        elif kind == "unauthorized":
            self._send(401, problem(401, "Unauthorized", "Unauthorized"))
        elif kind == "forbidden":
            self._send(
                403,
                problem(
                    403,
                    "Client Forbidden",
                    "When authenticating requests to the Twitter API v2 endpoints, you must use "
                    "keys and tokens from a Twitter developer App that is attached to a Project.",
                    "https://api.twitter.com/2/problems/client-forbidden",
                ),
            )
        elif kind == "not_found":
            self._send(404, problem(404, "Not Found Error", "Not Found"))
        elif kind == "server_error":
            self._send(500, problem(500, "Internal Server Error", "Something went wrong"))
        elif kind == "unavailable_html":
            self._send(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                       content_type="text/html")  # fmt: skip
        elif kind == "html_200":
            self._send(200, b"<!DOCTYPE html><html><body>Please sign in</body></html>",
                       content_type="text/html")  # fmt: skip
        elif kind == "malformed_json":
            self._send(200, b'{"data": [{"id": "1", "text": "cut of')
        elif kind == "missing_fields":
            self._send(200, json.dumps({"data": [{"txt": "no id here"}]}).encode())
        elif kind == "slow":
            self.fake.wait_slow()
            self._send(503, problem(503, "Service Unavailable", "slow and then gave up"))
        elif kind == "slow_then_ok":
            self.fake.wait_slow()
            return False
        elif kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        return True

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            # The client gave up (a timeout test); nothing left to tell it.
            self.close_connection = True


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone until interrupted (for daemon subprocess tests and demos)."""
    parser = fake_parser(
        "python -m scripts.fakes.x_server", description=__doc__, port_help="0 picks a free port"
    )
    parser.add_argument("--state", help="JSON scene to load (see FakeX.load_state)")
    args = parser.parse_args(argv)
    fake = FakeX()
    if args.state:
        with open(args.state, encoding="utf-8") as handle:
            fake.load_state(json.load(handle))
    serve_until_interrupted(fake, args.port)


if __name__ == "__main__":
    main()
