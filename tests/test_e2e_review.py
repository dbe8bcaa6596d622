"""Review mode end to end: a real `tweetbot run` (approve mode) against the fake X, a real
`tweetbot web`, and Debian's chromium driven by Playwright, all on one SQLite file.

The operator signs in, edits and approves the waiting post: the running daemon posts exactly
that text on the fake X. The next post is rejected: it is never posted, while the daemon goes on
drafting the one after it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bot.config import load_config
from bot.store import Store
from bot.store import review as queue
from scripts.fakes import FakeX
from tests.e2e_daemon import DaemonProcess, wait_for, write_home
from tests.web_server import CHROMIUM, CHROMIUM_ARGS, WebProcess

TOKEN = "e2e-review-token-Qw3Er5Ty7"
EDITED = "the fog lifted at noon and the gulls came back to the rocks"
REVIEW_SCHEDULE = """
[schedule]
post_every = "2s"
post_jitter = "0s"
mentions_every = "1s"
heartbeat_every = "1s"
retrain_every = "1h"
rate_limit_backoff = "1s"

[review]
posts = "approve"
"""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch the system chromium; Playwright downloads no browser of its own."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def _awaiting(config_path: Path) -> list[queue.ReviewItem]:
    store = Store(load_config(config_path).db_path)
    try:
        return queue.awaiting(store)
    finally:
        store.close()


def _posted_texts(fake: FakeX) -> list[str]:
    return [str(tweet["text"]) for tweet in fake.posted]


def test_an_approved_post_goes_out_and_a_rejected_one_never(
    page: Page, fake_x: FakeX, tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = write_home(tmp_path / "bot", fake_x.base_url, tiny_model_dir, schedule=REVIEW_SCHEDULE)
    daemon = DaemonProcess(config, "run")
    web = WebProcess(config, TOKEN)
    try:
        web.wait_ready()
        first = wait_for(lambda: _awaiting(config), "a post awaiting review", daemon)[0]
        assert fake_x.posted == []  # approve mode: nothing is sent before the operator says so

        page.goto(f"{web.base_url}/queue")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        page.get_by_label("Console token").fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        item = page.locator(f'[data-post-id="{first.id}"]')
        expect(item.locator('[data-field="text"]')).to_have_text(first.text)
        item.get_by_role("button", name="Edit", exact=True).click()
        item.locator("textarea").fill(EDITED)
        item.get_by_role("button", name="Save", exact=True).click()
        item = page.locator(f'[data-post-id="{first.id}"]')
        expect(item.locator('[data-field="text"]')).to_have_text(EDITED)
        item.get_by_role("button", name="Approve", exact=True).click()
        expect(item).to_have_count(0)

        wait_for(lambda: EDITED in _posted_texts(fake_x), "the approved post on X", daemon)

        second = wait_for(
            lambda: [i for i in _awaiting(config) if i.id > first.id], "the next draft", daemon
        )[0]
        item = page.locator(f'[data-post-id="{second.id}"]')
        expect(item).to_be_visible(timeout=20_000)  # the queue refreshed itself
        item.get_by_role("button", name="Reject", exact=True).click()
        expect(item).to_have_count(0)
        # The daemon has run its post job again since (a newer draft waits): the rejected
        # text was passed over for good.
        wait_for(
            lambda: [i for i in _awaiting(config) if i.id > second.id], "a later draft", daemon
        )
        assert daemon.alive()
    finally:
        web.stop()
        code = daemon.terminate() if daemon.alive() else daemon.wait()
    assert code == 0, daemon.output()[-3000:]
    posted = _posted_texts(fake_x)
    assert posted.count(EDITED) == 1
    assert second.text not in posted
    assert TOKEN not in web.output()
