"""The HTTP server under each fake: JSON in and out, recorded requests, faults, control routes.

A fake subclasses `FakeServer` and implements `route(request) -> Answer` and, for other
processes, `control(method, path, body) -> (status, payload)`. `serve_fault` answers with a fault
the network's way (each fake says which headers its 429 carries).
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scripts.fakes.net.faults import FaultQueue

HTML_PAGE = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
# How long a `hang` fault holds a request at most (clients time out long before).
HANG_SECONDS = 30.0


@dataclass
class Request:
    """A request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter `name`."""
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Answer:
    """What the fake sends back."""

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"


class FakeServer:
    """Base of the fakes: a threaded HTTP server on 127.0.0.1 with faults and a request log."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults = FaultQueue()
        self.requests: list[Request] = []
        self.slow_seconds = 3.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- to implement ----------------------------------------------------------------------

    def route(self, request: Request) -> Answer:
        """Answer one request of the network's API."""
        raise NotImplementedError

    def control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """Answer one `/_control/...` request (driving the fake from another process)."""
        if method == "POST" and path == "/_control/fail":
            spec = body if isinstance(body, dict) else {}
            self.faults.add(
                str(spec.get("kind")),
                spec.get("method"),
                str(spec.get("path", ".*")),
                int(spec.get("times", 1)),
            )
            return 200, {"ok": True}
        return 404, {"error": f"no control route {method} {path}"}

    def rate_limit_headers(self, *, reset: bool) -> dict[str, str]:
        """The headers of a 429 (with a reset time, or none)."""
        raise NotImplementedError

    def error_payload(self, status: int, message: str) -> Any:
        """The network's JSON body for an error."""
        raise NotImplementedError

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeServer:
        """Listen on 127.0.0.1:`port` (0: any free port) in a background thread."""
        handler = type("BoundHandler", (FakeHandler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release any hanging request."""
        self.faults.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_for(self, method: str, path_part: str = "") -> list[Request]:
        """Recorded requests with `method` whose path contains `path_part`."""
        with self.lock:
            return [r for r in self.requests if r.method == method and path_part in r.path]

    def fail_next(
        self, kind: str, method: str | None = None, path: str = ".*", times: int = 1
    ) -> None:
        """Serve fault `kind` to the next `times` matching requests."""
        self.faults.add(kind, method, path, times)


class FakeHandler(BaseHTTPRequestHandler):
    """One HTTP request against a `FakeServer` (bound per server as `fake`)."""

    fake: FakeServer
    protocol_version = "HTTP/1.1"  # keep-alive, so a dropped connection is visible

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        body = self._body()
        if split.path.startswith("/_control/"):
            status, payload = self.fake.control(method, split.path, body)
            self._send(Answer(status, payload))
            return
        request = Request(
            method,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        with self.fake.lock:
            self.fake.requests.append(request)
        fault = self.fake.faults.take(method, split.path)
        if fault == "slow_then_ok":
            self.fake.faults.release.wait(self.fake.slow_seconds)
        elif fault is not None:
            self._serve_fault(fault)
            return
        self._send(self.fake.route(request))

    def _serve_fault(self, kind: str) -> None:
        fake = self.fake
        if kind == "rate_limit":
            payload = fake.error_payload(429, "Rate Limit Exceeded")
            self._send(Answer(429, payload, fake.rate_limit_headers(reset=True)))
        elif kind == "rate_limit_no_reset":
            payload = fake.error_payload(429, "Rate Limit Exceeded")
            self._send(Answer(429, payload, fake.rate_limit_headers(reset=False)))
        elif kind == "server_error":
            self._send(Answer(500, fake.error_payload(500, "Internal Server Error")))
        elif kind == "unavailable_html":
            self._send(Answer(503, raw=HTML_PAGE, content_type="text/html"))
        elif kind == "html_200":
            self._send(Answer(200, raw=HTML_PAGE, content_type="text/html"))
        elif kind == "malformed_json":
            self._send(Answer(200, raw=b'{"uri": "at://cut-of'))
        elif kind == "hang":
            fake.faults.release.wait(HANG_SECONDS)
            self.close_connection = True
        elif kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, answer: Answer) -> None:
        body = answer.raw if answer.raw is not None else json.dumps(answer.payload).encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True
