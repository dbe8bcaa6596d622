"""The console in a real browser: Debian's chromium driven by Playwright (pytest-playwright),
against `tweetbot web` running as its own process on a loopback port, over a real SQLite file.

What needs a browser is tested here: sign-in through the form and the cookie, the in-place
Edit -> Save, the buttons, the queue's self-refresh, and that the page's own requests carry the
CSRF token while a request without it is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bot.config import load_config
from bot.store import Store
from bot.store import review as queue
from tests.web_server import CHROMIUM, CHROMIUM_ARGS, WebProcess

TOKEN = "browser-token-Hs8Kd3Wq6Zt1"
EDITED = "the fog lifted at noon and the gulls came back to the rocks"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch the system chromium; Playwright downloads no browser of its own."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    config_path = tmp_path / "config.toml"
    config_path.write_text('[bot]\nname = "browser"\n\n[filters]\nblocked_words = ["kraken"]\n')
    return config_path


@pytest.fixture
def web(home: Path) -> Iterator[WebProcess]:
    server = WebProcess(home, TOKEN)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
    assert TOKEN not in server.output()  # never in a log line either


def _store(config_path: Path) -> Store:
    return Store(load_config(config_path).db_path)


def _sign_in(page: Page, web: WebProcess, path: str = "/queue") -> None:
    page.goto(web.base_url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Console token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(web.base_url + path)


def _item(page: Page, post_id: int) -> Any:
    return page.locator(f'[data-post-id="{post_id}"]')


def test_sign_in_edit_save_approve_and_reject_in_the_browser(
    page: Page, web: WebProcess, home: Path
) -> None:
    store = _store(home)
    first = queue.add_for_review(store, "post", "a post waiting for the operator", ["other"]).id
    second = queue.add_for_review(store, "post", "a post the operator turns down").id
    store.close()

    _sign_in(page, web)
    item = _item(page, first)
    expect(item.locator('[data-field="text"]')).to_have_text("a post waiting for the operator")

    item.get_by_role("button", name="Edit", exact=True).click()
    area = item.locator("textarea")
    expect(area).to_be_visible()
    area.fill("summon the kraken")  # refused by the filters: the rule is named, nothing saved
    item.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("blocked_words")
    item = _item(page, first)
    item.locator("textarea").fill(EDITED)
    item.get_by_role("button", name="Save", exact=True).click()
    expect(_item(page, first).locator('[data-field="text"]')).to_have_text(EDITED)
    expect(_item(page, first).locator("textarea")).to_have_count(0)

    _item(page, first).get_by_role("button", name="Approve", exact=True).click()
    expect(_item(page, first)).to_have_count(0)
    _item(page, second).get_by_role("button", name="Reject", exact=True).click()
    expect(_item(page, second)).to_have_count(0)
    expect(page.get_by_text("Nothing is waiting for review.")).to_be_visible()

    store = _store(home)
    approved, rejected = queue.item(store, first), queue.item(store, second)
    store.close()
    assert approved is not None and (approved.status, approved.text) == ("approved", EDITED)
    assert rejected is not None and rejected.status == "rejected"


def test_the_queue_refreshes_itself_but_never_replaces_an_open_edit(
    page: Page, web: WebProcess, home: Path
) -> None:
    store = _store(home)
    editing = queue.add_for_review(store, "post", "an item being edited").id
    store.close()
    _sign_in(page, web)
    item = _item(page, editing)
    item.get_by_role("button", name="Edit", exact=True).click()
    item.locator("textarea").fill("half-typed words")

    store = _store(home)  # the daemon writes a new item meanwhile, from another process
    arrived = queue.add_for_review(store, "post", "a new item from the daemon").id
    store.close()
    expect(_item(page, arrived)).to_be_visible(timeout=20_000)
    expect(_item(page, editing).locator("textarea")).to_have_value("half-typed words")

    store = _store(home)  # the open item is edited elsewhere: the page keeps the operator's text
    queue.edit(store, editing, "changed by the CLI", lambda text, item: [])
    store.close()
    page.wait_for_timeout(6_500)  # past one refresh period
    expect(_item(page, editing).locator("textarea")).to_have_value("half-typed words")
    expect(_item(page, editing).locator('[data-field="text"]')).to_have_text("an item being edited")


def test_without_a_session_pages_go_to_login_and_a_post_without_csrf_is_403(
    page: Page, web: WebProcess, home: Path
) -> None:
    store = _store(home)
    post_id = queue.add_for_review(store, "post", "stays waiting").id
    store.close()
    for path in ("/", "/queue", "/outbox", "/mentions", "/models", "/corpus"):
        page.goto(web.base_url + path)
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.locator('input[type="password"]')).to_have_count(1)

    _sign_in(page, web)
    # The browser's own session cookie, but no CSRF token: refused before anything else.
    refused = page.request.post(f"{web.base_url}/queue/{post_id}/approve", form={"x": "1"})
    assert refused.status == 403
    store = _store(home)
    assert queue.item(store, post_id).status == "awaiting_review"  # type: ignore[union-attr]
    store.close()
    cookie = next(c for c in page.context.cookies() if c["name"] == "tweetbot_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # invisible to scripts
