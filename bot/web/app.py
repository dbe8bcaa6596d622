"""The operator console: a Starlette app over the bot's SQLite file.

Every page is server-rendered HTML and has a JSON twin (`Accept: application/json`, or the same
path with `.json`). Every request but `/login` and the static files needs a session cookie or
`Authorization: Bearer TOKEN`; every POST from a session needs that session's CSRF token, which
is checked before anything else in the request is looked at. The console runs as its own process
beside the daemon: it reads and writes the database only through bot/store, in short
transactions, so the two never step on each other (SQLite WAL, compare-and-set transitions).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import Config
from bot.errors import UsageError
from bot.logging import get_logger
from bot.store import Store, review
from bot.web import views
from bot.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    LoginThrottle,
    Session,
    Sessions,
    same_secret,
)

log = get_logger(__name__)

HERE = Path(__file__).parent
# How often the queue page asks for a fresh list (seconds; the page's own script does it).
QUEUE_REFRESH_SECONDS = 5

# No inline script or style anywhere, no framing, no referrer leaking paths elsewhere.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every response (static files included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class Caller:
    """Who is asking: a browser session (CSRF-checked) or a script with the Bearer token."""

    session_id: str | None
    session: Session | None

    @property
    def is_script(self) -> bool:
        return self.session is None


class Console:
    """The app's shared parts: config, token, one store connection, sessions, throttle."""

    def __init__(
        self,
        config: Config,
        token: str,
        *,
        sessions: Sessions | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        if not token:
            raise UsageError("the console needs a non-empty token")
        self.config = config
        self._token = token
        self.sessions = sessions or Sessions()
        self.throttle = throttle or LoginThrottle()
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        env.filters["age"] = views.age_text
        self.templates = Jinja2Templates(env=env)

    @property
    def store(self) -> Store:
        """The database, opened on first use (the Store serialises its users behind a lock)."""
        with self._store_lock:
            if self._store is None:
                self._store = Store(self.config.db_path)
            return self._store

    def close(self) -> None:
        """Close the database if it was opened."""
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def token_matches(self, given: str) -> bool:
        """Constant-time check of a sign-in password or Bearer token."""
        return bool(given) and same_secret(given, self._token)


# ---- request helpers ---------------------------------------------------------------------


def wants_json(request: Request) -> bool:
    """A JSON twin was asked for: the `.json` path or an Accept header naming JSON."""
    if request.scope.get("json_twin"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def client_key(request: Request) -> str:
    """The client the login throttle counts against (the peer address)."""
    return request.client.host if request.client else "unknown"


def _error(request: Request, console: Console, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return console.templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message, **_chrome(request)},
        status_code=status,
    )  # fmt: skip


def _chrome(
    request: Request, caller: Caller | None = None, *, take_flash: bool = True
) -> dict[str, Any]:
    """What the base template needs on every page (a fragment leaves the flash message)."""
    session = caller.session if caller else None
    return {
        "csrf_token": session.csrf_token if session else "",
        "flash": session.pop_flash() if session and take_flash else None,
        "signed_in": caller is not None,
        "path": request.url.path,
    }


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


async def _read_form(request: Request) -> FormData | None:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    try:
        return await request.form()
    except Exception:
        return None  # a body that does not parse carries no CSRF token either


Handler = Callable[[Request, Console, Caller], Awaitable[Response]]


def guarded(console: Console, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a page or action: authenticate, then (for a session's POST) check CSRF first."""

    async def endpoint(request: Request) -> Response:
        caller = authenticate(request, console)
        if isinstance(caller, Response):
            return caller
        if request.method == "POST" and caller.session is not None:
            sent = request.headers.get(CSRF_HEADER)
            if sent is None:
                form = await _read_form(request)
                value = form.get(CSRF_FIELD) if form is not None else None
                sent = value if isinstance(value, str) else None
            if not sent or not same_secret(sent, caller.session.csrf_token):
                return _error(request, console, 403, "missing or wrong CSRF token")
        return await handler(request, console, caller)

    return endpoint


def authenticate(request: Request, console: Console) -> Caller | Response:
    """The caller, or the response for one who is not signed in (401 JSON, else 303)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, given = authorization.partition(" ")
        key = client_key(request)
        wait = console.throttle.retry_after(key)
        if wait is not None:
            return _too_many(wait)
        if scheme.lower() == "bearer" and console.token_matches(given.strip()):
            return Caller(session_id=None, session=None)
        console.throttle.failed(key)
        return JSONResponse(
            {"error": "wrong Bearer token"},
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="tweetbot"'},
        )
    session_id = request.cookies.get(SESSION_COOKIE)
    session = console.sessions.get(session_id)
    if session is not None:
        return Caller(session_id=session_id, session=session)
    if wants_json(request):
        return JSONResponse({"error": "sign in required"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _too_many(wait: int) -> Response:
    return JSONResponse(
        {"error": f"too many failed sign-ins; try again in {wait}s"},
        status_code=429,
        headers={"retry-after": str(wait)},
    )


def _render(
    request: Request,
    console: Console,
    caller: Caller,
    template: str,
    data: dict[str, Any],
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    """The page, or its JSON twin, of one view's data."""
    if wants_json(request):
        return JSONResponse(data, status_code=status)
    chrome = _chrome(request, caller, take_flash=template != "queue_items.html")
    context = {**data, **extra, **chrome}
    return console.templates.TemplateResponse(request, template, context, status_code=status)


def _done(request: Request, caller: Caller, target: str, message: str, data: Any) -> Response:
    """After a state change: JSON for scripts, else a redirect (POST-redirect-GET) with a note."""
    if caller.is_script or wants_json(request):
        return JSONResponse(data)
    if caller.session is not None:
        caller.session.flash = message
    return RedirectResponse(target, status_code=303)


# ---- sign-in -----------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    """GET /login: the one-password form."""
    console: Console = request.app.state.console
    return console.templates.TemplateResponse(
        request, "login.html",
        {"next": _safe_next(request.query_params.get("next")), "error": None,
         **_chrome(request)},
    )  # fmt: skip


async def login_submit(request: Request) -> Response:
    """POST /login: the only POST without a CSRF token; throttled per client."""
    console: Console = request.app.state.console
    key = client_key(request)
    wait = console.throttle.retry_after(key)
    if wait is not None:
        if wants_json(request):
            return _too_many(wait)
        return console.templates.TemplateResponse(
            request, "login.html",
            {"next": "/", "error": f"Too many failed sign-ins; try again in {wait}s.",
             **_chrome(request)},
            status_code=429, headers={"retry-after": str(wait)},
        )  # fmt: skip
    form = await _read_form(request)
    given = form.get("token") if form is not None else None
    target = _safe_next(str(form.get("next") or "/") if form is not None else "/")
    if not isinstance(given, str) or not console.token_matches(given):
        console.throttle.failed(key)
        log.warning("console sign-in failed", client=key)
        return console.templates.TemplateResponse(
            request, "login.html",
            {"next": target, "error": "Wrong token.", **_chrome(request)},
            status_code=401,
        )  # fmt: skip
    session_id, _session = console.sessions.create()
    log.info("console sign-in", client=key)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        # Secure only over https: a plain-http loopback console must still work.
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def logout(request: Request, console: Console, caller: Caller) -> Response:
    """POST /logout: end the session."""
    console.sessions.end(caller.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# ---- pages -------------------------------------------------------------------------------


async def home(request: Request, console: Console, caller: Caller) -> Response:
    """/: health, budget gauges, next job times, current model."""
    data = await run_in_threadpool(views.overview, console.store, console.config)
    return _render(request, console, caller, "index.html", data)


def _queue_extra(request: Request) -> dict[str, Any]:
    editing = request.query_params.get("edit")
    return {
        "editing": int(editing) if editing and editing.isdigit() else None,
        "refresh_seconds": QUEUE_REFRESH_SECONDS,
        "edit_error": None,
        "edit_text": None,
    }


async def queue_page(request: Request, console: Console, caller: Caller) -> Response:
    """/queue: posts awaiting review; `?fragment=1` is only the list (for the self-refresh)."""
    data = await run_in_threadpool(views.queue, console.store)
    template = "queue_items.html" if request.query_params.get("fragment") else "queue.html"
    return _render(request, console, caller, template, data, **_queue_extra(request))


async def outbox_page(request: Request, console: Console, caller: Caller) -> Response:
    """/outbox: every row with its status and reason."""
    data = await run_in_threadpool(views.outbox, console.store)
    return _render(request, console, caller, "outbox.html", data)


async def mentions_page(request: Request, console: Console, caller: Caller) -> Response:
    """/mentions: why each mention was or wasn't answered."""
    data = await run_in_threadpool(views.mentions, console.store)
    return _render(request, console, caller, "mentions.html", data)


async def models_page(request: Request, console: Console, caller: Caller) -> Response:
    """/models: versions, eval loss, loss plots, Promote."""
    data = await run_in_threadpool(views.models, console.store, console.config)
    return _render(request, console, caller, "models.html", data)


async def corpus_page(request: Request, console: Console, caller: Caller) -> Response:
    """/corpus: the data table."""
    data = await run_in_threadpool(views.corpus, console.store, console.config)
    return _render(request, console, caller, "corpus.html", data)


async def loss_plot(request: Request, console: Console, caller: Caller) -> Response:
    """/models/VERSION/loss.png: the plot saved in that version's directory."""
    version = request.path_params["version"]
    row = await run_in_threadpool(console.store.model_version, version)
    if row is None:
        return _error(request, console, 404, f"unknown model version {version!r}")
    # The file name is fixed and the directory comes from the registry, never from the URL.
    path = views.version_dir(row, console.config) / views.LOSS_PLOT
    if not path.is_file():
        return _error(request, console, 404, f"version {version!r} has no loss plot")
    return FileResponse(path, media_type="image/png")


# ---- actions -----------------------------------------------------------------------------


async def _fields(request: Request) -> dict[str, Any]:
    """The action's parameters: a JSON body (scripts) or the submitted form."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    form = await _read_form(request)
    return {k: v for k, v in form.items() if isinstance(v, str)} if form is not None else {}


async def queue_action(request: Request, console: Console, caller: Caller) -> Response:
    """POST /queue/ID/(approve|reject|edit|pick): one review transition."""
    post_id = int(request.path_params["post_id"])
    action = request.path_params["action"]
    fields = await _fields(request)
    store = console.store

    def judge() -> review.TextJudge:
        from bot.daemon.review import filters_judge

        return filters_judge(console.config, store)

    def act() -> review.ReviewItem:
        if action == "approve":
            return review.approve(store, post_id)
        if action == "reject":
            return review.reject(store, post_id)
        if action == "edit":
            return review.edit(store, post_id, str(fields.get("text", "")), judge())
        if action == "pick":
            index = str(fields.get("index", ""))
            if not index.isdigit():
                raise review.ReviewError("pick needs the alternate's index")
            return review.pick_alternate(store, post_id, int(index), judge())
        raise review.ReviewError(f"unknown action {action!r}")

    try:
        result = await run_in_threadpool(act)
    except review.EditRefused as exc:
        if wants_json(request) or caller.is_script:
            refusals = [{"rule": r, "reason": why} for r, why in exc.refusals]
            return JSONResponse({"error": str(exc), "refusals": refusals}, status_code=422)
        data = await run_in_threadpool(views.queue, store)
        extra = _queue_extra(request)
        extra.update(editing=post_id, edit_error=str(exc), edit_text=fields.get("text"))
        return _render(request, console, caller, "queue.html", data, status=422, **extra)
    except review.ReviewError as exc:
        if wants_json(request) or caller.is_script:
            return JSONResponse({"error": str(exc)}, status_code=409)
        if caller.session is not None:
            caller.session.flash = str(exc)
        return RedirectResponse("/queue", status_code=303)
    log.info("review", action=action, post_id=post_id, status=result.status)
    words = {"approve": "approved", "reject": "rejected", "edit": "saved", "pick": "updated"}
    return _done(request, caller, "/queue", f"Post {post_id} {words[action]}.", result.to_dict())


async def promote_action(request: Request, console: Console, caller: Caller) -> Response:
    """POST /models/VERSION/promote: make it current through the registry's rule."""
    from bot.trainer.registry import promote

    version = request.path_params["version"]
    try:
        await run_in_threadpool(promote, console.store, version)
    except UsageError as exc:
        return _error(request, console, 400, str(exc))
    log.info("model promoted from the console", version=version)
    message = f"Version {version} is now current; the daemon loads it at its next heartbeat."
    return _done(request, caller, "/models", message, {"version": version, "current": True})


# ---- the app -----------------------------------------------------------------------------

PAGES: dict[str, tuple[str, Handler]] = {
    "/": ("/index.json", home),
    "/queue": ("/queue.json", queue_page),
    "/outbox": ("/outbox.json", outbox_page),
    "/mentions": ("/mentions.json", mentions_page),
    "/models": ("/models.json", models_page),
    "/corpus": ("/corpus.json", corpus_page),
}


def _json_twin(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def twin(request: Request) -> Response:
        request.scope["json_twin"] = True
        return await endpoint(request)

    return twin


def create_app(console: Console) -> Starlette:
    """The ASGI app serving `console` (uvicorn runs it; tests call it in-process)."""
    routes: list[Route | Mount] = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", guarded(console, logout), methods=["POST"]),
    ]
    for path, (twin_path, handler) in PAGES.items():
        endpoint = guarded(console, handler)
        routes.append(Route(path, endpoint, methods=["GET"]))
        routes.append(Route(twin_path, _json_twin(endpoint), methods=["GET"]))
    routes += [
        Route("/models/{version}/loss.png", guarded(console, loss_plot), methods=["GET"]),
        Route("/models/{version}/promote", guarded(console, promote_action), methods=["POST"]),
        Route(
            "/queue/{post_id:int}/{action:str}",
            guarded(console, queue_action),
            methods=["POST"],
        ),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            console.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.console = console
    app.add_middleware(SecurityHeaders)
    return app
