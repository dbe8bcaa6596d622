"""The operator console in-process (Starlette's TestClient): every security rule of DESIGN.md,
every page and its JSON twin, and the review actions, over a real SQLite file."""

from __future__ import annotations

import hmac
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.config import Config
from bot.store import Store, iso, utcnow
from bot.store import review as queue
from bot.web import Console, create_app
from bot.web.security import LoginThrottle
from tests.daemon_fakes import make_config

TOKEN = "console-token-Vb7Qm2Xr9Lp4"
PAGES = ["/", "/queue", "/outbox", "/mentions", "/models", "/corpus"]
TWINS = ["/index.json", "/queue.json", "/outbox.json", "/mentions.json", "/models.json",
         "/corpus.json"]  # fmt: skip
GOOD_TEXT = "the lamp was lit early tonight because the fog came in fast"


class Clock:
    """A hand-driven monotonic clock for the login throttle."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(
        tmp_path,
        source={"usernames": ["skerry"]},
        filters={"blocked_words": ["kraken"]},
        limits={"posts_per_day": 10},
    )


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    opened = Store(config.db_path)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app_client(config: Config, clock: Clock) -> Iterator[TestClient]:
    console = Console(config, TOKEN, throttle=LoginThrottle(clock=clock))
    with TestClient(create_app(console), base_url="http://127.0.0.1") as client:
        yield client


def sign_in(client: TestClient) -> str:
    """Sign in through the form; returns the session's CSRF token (from a page)."""
    response = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get("/queue")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---- security ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_a_page_without_a_session_redirects_to_login(app_client: TestClient, path: str) -> None:
    response = app_client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", PAGES + TWINS)
def test_json_without_a_session_gets_401_json(app_client: TestClient, path: str) -> None:
    response = app_client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.json() == {"error": "sign in required"}


def test_login_page_has_one_password_input_and_sets_a_strict_httponly_cookie(
    app_client: TestClient,
) -> None:
    page = app_client.get("/login")
    assert page.status_code == 200
    assert len(re.findall(r"<input[^>]*>", page.text.split('action="/login"')[1])) == 2
    assert page.text.count('type="password"') == 1
    response = app_client.post(
        "/login", data={"token": TOKEN, "next": "/outbox"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/outbox"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert TOKEN not in cookie
    assert app_client.get("/outbox", follow_redirects=False).status_code == 200


def test_the_cookie_is_secure_over_https(config: Config) -> None:
    with TestClient(create_app(Console(config, TOKEN)), base_url="https://127.0.0.1") as client:
        response = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert "Secure" in response.headers["set-cookie"]


def test_sign_in_never_redirects_off_site(app_client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = app_client.post(
            "/login", data={"token": TOKEN, "next": target}, follow_redirects=False
        )
        assert response.headers["location"] == "/"


def test_a_wrong_token_is_refused_and_compared_in_constant_time(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    response = app_client.post("/login", data={"token": "guess"}, follow_redirects=False)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert calls == [(b"guess", TOKEN.encode())]
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_five_failed_sign_ins_in_a_minute_get_429_even_for_the_right_token(
    app_client: TestClient, clock: Clock
) -> None:
    for _ in range(5):
        assert app_client.post("/login", data={"token": "nope"}).status_code == 401
    limited = app_client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "set-cookie" not in limited.headers
    clock.now += 61  # the window has passed: the operator may try again
    again = app_client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert again.status_code == 303


def test_the_throttle_counts_per_client(config: Config, clock: Clock) -> None:
    console = Console(config, TOKEN, throttle=LoginThrottle(clock=clock))
    app = create_app(console)
    attacker = TestClient(app, client=("10.0.0.9", 4000))
    operator = TestClient(app, client=("127.0.0.1", 5000))
    for _ in range(5):
        attacker.post("/login", data={"token": "nope"})
    assert attacker.post("/login", data={"token": TOKEN}).status_code == 429
    assert operator.post("/login", data={"token": TOKEN}, follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", TWINS)
def test_bearer_token_reads_every_json_twin(app_client: TestClient, path: str) -> None:
    response = app_client.get(path, headers=bearer())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")


def test_a_wrong_bearer_gets_401_even_with_a_session(app_client: TestClient) -> None:
    sign_in(app_client)
    response = app_client.get("/queue.json", headers=bearer("wrong-token"))
    assert response.status_code == 401
    assert "error" in response.json()
    assert app_client.get("/queue.json", headers=bearer("")).status_code == 401


def test_a_session_post_without_the_csrf_token_is_403_and_changes_nothing(
    app_client: TestClient, store: Store
) -> None:
    post_id = queue.add_for_review(store, "post", "waiting").id
    sign_in(app_client)
    for data in ({}, {"csrf_token": "forged"}):
        response = app_client.post(f"/queue/{post_id}/approve", data=data)
        assert response.status_code == 403
    # 403 before any form validation: an edit with an empty (invalid) text is still 403.
    assert app_client.post(f"/queue/{post_id}/edit", data={"text": ""}).status_code == 403
    # A body that does not even parse carries no token either.
    garbled = app_client.post(
        f"/queue/{post_id}/approve",
        content=b"--x\r\nnot multipart",
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert garbled.status_code == 403
    assert app_client.post("/logout", data={}).status_code == 403
    assert queue.item(store, post_id).status == "awaiting_review"  # type: ignore[union-attr]


def test_csrf_token_in_the_header_is_accepted(app_client: TestClient, store: Store) -> None:
    post_id = queue.add_for_review(store, "post", "waiting").id
    csrf = sign_in(app_client)
    response = app_client.post(
        f"/queue/{post_id}/reject",
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"


def test_bearer_posts_need_no_csrf_token(app_client: TestClient, store: Store) -> None:
    post_id = queue.add_for_review(store, "post", "waiting").id
    response = app_client.post(f"/queue/{post_id}/approve", headers=bearer())
    assert response.status_code == 200 and response.json()["status"] == "approved"
    again = app_client.post(f"/queue/{post_id}/approve", headers=bearer())
    assert again.status_code == 409 and "is approved" in again.json()["error"]


def test_sign_out_ends_the_session(app_client: TestClient) -> None:
    csrf = sign_in(app_client)
    response = app_client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_no_secret_appears_in_any_page(
    app_client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue.add_for_review(store, "post", "waiting")
    sign_in(app_client)
    bodies = [app_client.get(path).text for path in PAGES + TWINS]
    bodies.append(app_client.get("/login").text)
    bodies.append(app_client.post("/login", data={"token": TOKEN[:-1]}).text)
    for body in bodies:
        assert TOKEN not in body


def test_every_response_carries_the_security_headers(app_client: TestClient) -> None:
    for response in (app_client.get("/login"), app_client.get("/static/console.js")):
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"


def test_web_without_the_token_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[bot]\nname = 'x'\n")
    env = {k: v for k, v in os.environ.items() if k != "TWEETBOT_WEB_TOKEN"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(tmp_path / "config.toml"), "web"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "TWEETBOT_WEB_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing opened, nothing written


# ---- pages -------------------------------------------------------------------------------


def _item_blocks(html: str) -> dict[str, str]:
    """data-post-id -> the HTML of that queue item."""
    parts = re.split(r'(?=<li class="item" data-post-id=")', html)
    return {
        re.match(r'<li class="item" data-post-id="(\d+)"', part).group(1): part  # type: ignore[union-attr]
        for part in parts[1:]
    }


def test_queue_items_follow_the_console_contract(app_client: TestClient, store: Store) -> None:
    store.insert_mentions([{"id": "55", "author_username": "harbour_cat", "text": "@unit hi?"}])
    post_id = queue.add_for_review(store, "post", "a <b>bold</b> post", ["alt one", "alt two"]).id
    reply_id = queue.add_for_review(store, "reply", "@harbour_cat hello", mention_id="55").id
    sign_in(app_client)
    page = app_client.get("/queue").text
    blocks = _item_blocks(page)
    assert set(blocks) == {str(post_id), str(reply_id)}
    block = blocks[str(post_id)]
    assert 'data-field="text">a &lt;b&gt;bold&lt;/b&gt; post</p>' in block  # escaped
    for name in ("Approve", "Reject", "Edit"):
        assert len(re.findall(rf"<button[^>]*>{name}</button>", block)) == 1
    assert block.count("data-post-id") == 1
    # Alternates are picked with controls of other names; Save only appears inside a template.
    assert "Use alternate 1" in block and "Use alternate 2" in block
    assert "Save" not in block.split("<template")[0]
    assert "@harbour_cat: @unit hi?" in blocks[str(reply_id)]
    data = app_client.get("/queue.json").json()
    assert [i["id"] for i in data["items"]] == [post_id, reply_id]
    assert data["items"][0]["alternates"] == ["alt one", "alt two"]
    assert app_client.get("/queue", headers={"Accept": "application/json"}).json() == data


def test_edit_without_script_opens_in_the_page_and_save_shows_the_new_text(
    app_client: TestClient, store: Store
) -> None:
    post_id = queue.add_for_review(store, "post", "first words").id
    csrf = sign_in(app_client)
    opened = _item_blocks(app_client.get(f"/queue?edit={post_id}").text)[str(post_id)]
    assert "<textarea" in opened.split("<template")[0] and "Save</button>" in opened
    saved = app_client.post(f"/queue/{post_id}/edit", data={"csrf_token": csrf, "text": GOOD_TEXT})
    assert saved.status_code == 200  # followed the 303 back to /queue
    assert f'data-field="text">{GOOD_TEXT}</p>' in saved.text
    assert f"Post {post_id} saved." in saved.text


def test_an_edit_the_filters_refuse_is_shown_with_the_rule(
    app_client: TestClient, store: Store
) -> None:
    post_id = queue.add_for_review(store, "post", "first words").id
    csrf = sign_in(app_client)
    refused = app_client.post(
        f"/queue/{post_id}/edit", data={"csrf_token": csrf, "text": "summon the kraken"}
    )
    assert refused.status_code == 422
    assert "blocked_words" in refused.text
    assert "summon the kraken</textarea>" in refused.text  # the operator's words are kept
    scripted = app_client.post(f"/queue/{post_id}/edit", headers=bearer(),
                               json={"text": "summon the kraken"})  # fmt: skip
    assert scripted.status_code == 422
    assert [r["rule"] for r in scripted.json()["refusals"]] == ["blocked_words"]
    assert queue.item(store, post_id).text == "first words"  # type: ignore[union-attr]


def test_approve_reject_and_pick_from_the_page(app_client: TestClient, store: Store) -> None:
    one = queue.add_for_review(store, "post", "one", [GOOD_TEXT]).id
    two = queue.add_for_review(store, "post", "two").id
    csrf = sign_in(app_client)
    picked = app_client.post(f"/queue/{one}/pick", data={"csrf_token": csrf, "index": "0"})
    assert f'data-field="text">{GOOD_TEXT}</p>' in picked.text
    approved = app_client.post(f"/queue/{one}/approve", data={"csrf_token": csrf})
    assert f"Post {one} approved." in approved.text
    rejected = app_client.post(f"/queue/{two}/reject", data={"csrf_token": csrf})
    assert _item_blocks(rejected.text) == {}
    assert "Nothing is waiting for review." in rejected.text
    assert queue.item(store, one).status == "approved"  # type: ignore[union-attr]
    assert queue.item(store, two).status == "rejected"  # type: ignore[union-attr]
    late = app_client.post(f"/queue/{two}/approve", data={"csrf_token": csrf})
    assert f"post {two} is rejected, not awaiting_review" in late.text


def test_the_queue_sees_rows_another_process_writes_meanwhile(
    app_client: TestClient, config: Config
) -> None:
    sign_in(app_client)
    assert app_client.get("/queue.json").json()["items"] == []
    daemon_side = Store(config.db_path)  # the daemon's own connection to the same file
    post_id = queue.add_for_review(daemon_side, "post", "fresh from the daemon").id
    daemon_side.close()
    assert [i["id"] for i in app_client.get("/queue.json").json()["items"]] == [post_id]
    fragment = app_client.get("/queue?fragment=1").text
    assert fragment.startswith('<section id="queue"') and "<html" not in fragment


def test_overview_shows_health_budget_next_jobs_and_model(
    app_client: TestClient, store: Store
) -> None:
    store.beat()
    store.set_state("dry_run", "false")  # the daemon last ran live: the live budget is shown
    store.set_state("next_run:post", iso(utcnow()))
    store.add_model_version("v7", "/nowhere/v7", base="gpt2", eval_loss=3.25, train_loss=3.0)
    store.set_current_model("v7")
    for n in range(3):
        row = store.add_post("post", f"sent {n}").id
        store.mark_post(row, "posted", remote_id=str(n))
    queue.add_for_review(store, "post", "waiting")
    sign_in(app_client)
    data = app_client.get("/index.json").json()
    assert data["health"]["fresh"] is True
    # A post awaiting review holds its place in the budget, like a pending one.
    assert data["budget"]["today"] == {"used": 4, "limit": 10, "share": 0.4}
    assert set(data["next_runs"]) == {"post"}
    assert data["model"] == {"version": "v7", "eval_loss": 3.25}
    assert data["awaiting_review"] == 1
    page = app_client.get("/").text
    assert "daemon alive" in page and 'value="0.4"' in page and "v7" in page
    assert "1 awaiting review" in page


def test_overview_shows_a_failing_job_and_each_networks_budget(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, bot={"networks": ["x", "mastodon"]}, limits={"posts_per_day": 10}
    )
    store = Store(config.db_path)
    store.beat()
    store.set_state("dry_run", "false")
    store.add_post("post", "on x")
    store.add_post("post", "on mastodon", network="mastodon")
    store.add_post("post", "again on mastodon", network="mastodon")
    failure = {"failures": 3, "last_error": "Unavailable: X is down", "since": iso(utcnow())}
    store.set_state("job_failures:mentions", json.dumps(failure))
    store.close()
    console = Console(config, TOKEN, throttle=LoginThrottle(clock=Clock()))
    with TestClient(create_app(console), base_url="http://127.0.0.1") as client:
        sign_in(client)
        data = client.get("/index.json").json()
        page = client.get("/").text
    # The same judgement as `tweetbot health`: a fresh heartbeat, but a job keeps failing.
    assert data["health"]["fresh"] is True
    assert data["health"]["problem"] == (
        "job mentions failed 3 times in a row (last: Unavailable: X is down)"
    )
    assert "unhealthy: job mentions failed 3 times" in page
    assert {n: g["today"]["used"] for n, g in data["networks"].items()} == {
        "x": 1,
        "mastodon": 2,
    }
    assert "<h3>mastodon</h3>" in page


def test_outbox_shows_every_row_with_status_and_reason(
    app_client: TestClient, store: Store
) -> None:
    store.record_skip("post", "no candidate passed the filters")
    sent = store.add_post("post", "made it").id
    store.mark_post(sent, "posted", remote_id="9")
    queue.reject(store, queue.add_for_review(store, "post", "not this one").id)
    sign_in(app_client)
    rows = app_client.get("/outbox.json").json()["rows"]
    assert [(r["status"], r["reason"]) for r in rows] == [
        ("rejected", "rejected by the operator"),
        ("posted", None),
        ("skipped", "no candidate passed the filters"),
    ]
    page = app_client.get("/outbox").text
    assert page.count("<tr data-status=") == 3
    assert "no candidate passed the filters" in page and "rejected by the operator" in page


def test_mentions_say_why_each_was_or_wasnt_answered(app_client: TestClient, store: Store) -> None:
    store.insert_mentions(
        {"id": str(n), "author_username": who, "text": said, "created_at": f"2026-01-01T00:0{n}"}
        for n, who, said in ((1, "a", "hi"), (2, "spam", "buy"), (3, "c", "yo"))
    )
    store.mark_mention("1", "replied")
    store.mark_mention("2", "ignored", "blocked user")
    queue.add_for_review(store, "reply", "@c hello", mention_id="3")
    sign_in(app_client)
    verdicts = {m["id"]: m["verdict"] for m in app_client.get("/mentions.json").json()["mentions"]}
    assert verdicts == {
        "1": "answered",
        "2": "ignored: blocked user",
        "3": "reply awaiting review",
    }
    assert "ignored: blocked user" in app_client.get("/mentions").text


def test_models_show_loss_and_plot_and_promote_through_the_registry(
    app_client: TestClient, store: Store, tmp_path: Path
) -> None:
    good = tmp_path / "models" / "v2"
    good.mkdir(parents=True)
    (good / "config.json").write_text("{}")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    (good / "loss.png").write_bytes(png)
    store.add_model_version("v1", str(tmp_path / "missing"), base="gpt2", eval_loss=3.5,
                            train_loss=3.4)  # fmt: skip
    store.add_model_version("v2", str(good), base="gpt2", eval_loss=3.1, train_loss=3.0,
                            metrics={"eval_perplexity": 22.2})  # fmt: skip
    store.set_current_model("v1")
    csrf = sign_in(app_client)
    versions = {v["version"]: v for v in app_client.get("/models.json").json()["versions"]}
    assert versions["v2"]["loss_plot"] == "/models/v2/loss.png"
    assert versions["v1"]["loss_plot"] is None and versions["v1"]["current"] is True
    plot = app_client.get("/models/v2/loss.png")
    assert plot.status_code == 200 and plot.content == png
    assert plot.headers["content-type"] == "image/png"
    assert app_client.get("/models/v1/loss.png").status_code == 404
    page = app_client.get("/models").text
    assert page.count("Promote</button>") == 1 and "3.1000" in page
    promoted = app_client.post("/models/v2/promote", data={"csrf_token": csrf})
    assert "Version v2 is now current" in promoted.text
    assert store.current_model()["version"] == "v2"  # type: ignore[index]
    # The registry's rule holds here too: a version without model files is refused.
    refused = app_client.post("/models/v1/promote", data={"csrf_token": csrf})
    assert refused.status_code == 400 and "has no model files" in refused.text
    assert store.current_model()["version"] == "v2"  # type: ignore[index]


def test_corpus_shows_the_data_table(app_client: TestClient, store: Store) -> None:
    store.insert_tweets(
        [
            {"id": "1", "username": "skerry", "text": "RT @x: something said", "kind": "retweet",
             "created_at": "2026-01-01T00:00:00"},
            {"id": "2", "username": "skerry", "text": "too short", "kind": "original",
             "created_at": "2026-01-01T00:00:01"},
            {"id": "3", "username": "skerry", "text": "the fog horn sounded nine times today",
             "kind": "original", "created_at": "2026-01-01T00:00:02"},
        ]
    )  # fmt: skip
    sign_in(app_client)
    data = app_client.get("/corpus.json").json()
    total = data["total"]
    assert (total["downloaded"], total["retweets"], total["short"], total["kept"]) == (3, 1, 1, 1)
    page = app_client.get("/corpus").text
    assert "<td>Tweets downloaded</td><td>3</td>" in page
    assert "<td>Tweets kept</td><td>1</td>" in page
