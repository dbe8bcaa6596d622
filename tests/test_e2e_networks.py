"""`tweetbot run` as a real process on Bluesky and on Mastodon, against the fakes, with a real
tiny model: scheduled posts, one reply per mention, kill -9 and restart, faults, dry run.

Each test runs once per network; it waits for what it needs and never asserts on durations.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from scripts.fakes.bluesky import FakePds
from scripts.fakes.mastodon import FakeMastodon
from tests.e2e_daemon import SECRETS, DaemonProcess, outbox, wait_for
from tests.e2e_networks import NETWORK_SECRETS, bot_posts, network_env, network_home, writes

NETWORKS = ["bluesky", "mastodon"]
POST_PATH = {"bluesky": "createRecord", "mastodon": "/api/v1/statuses"}


@pytest.fixture(params=NETWORKS)
def network(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake(network: str, fake_pds: FakePds, fake_mastodon: FakeMastodon) -> FakePds | FakeMastodon:
    return fake_pds if network == "bluesky" else fake_mastodon


def _mention(fake: FakePds | FakeMastodon, author: str, text: str) -> str:
    if isinstance(fake, FakePds):
        return fake.add_mention(f"{author}.test", f"@tweetbot.test {text}")
    return fake.add_mention(author, f"@tweetbot {text}")


def _originals(fake: FakePds | FakeMastodon) -> list[dict[str, object]]:
    return [p for p in bot_posts(fake) if p["reply_to"] is None]


def _replies(fake: FakePds | FakeMastodon) -> list[object]:
    return [p["reply_to"] for p in bot_posts(fake) if p["reply_to"] is not None]


def test_posts_on_schedule_and_answers_each_mention_once(
    tmp_path: Path, network: str, fake: FakePds | FakeMastodon, tiny_model_dir: Path
) -> None:
    config = network_home(tmp_path / "bot", network, fake, tiny_model_dir)
    first = [_mention(fake, f"fan{i}", f"question {i}?") for i in range(2)]
    daemon = DaemonProcess(config, "--debug", "run", env=network_env())
    try:
        wait_for(lambda: len(_originals(fake)) >= 2, "two scheduled posts", daemon)
        late = _mention(fake, "latecomer", "are you there?")
        wait_for(lambda: late in _replies(fake), "a reply to the late mention", daemon)
        code = daemon.terminate()
    finally:
        daemon.ensure_stopped()
    assert code == 0, daemon.output()[-2000:]
    assert Counter(_replies(fake)) == Counter([*first, late])  # each exactly once
    rows = outbox(config)
    assert {r.network for r in rows} == {network}
    posted = {r.remote_id for r in rows if r.status == "posted"}
    assert posted == {p["id"] for p in bot_posts(fake)}
    assert not [r for r in rows if r.status == "pending"]
    log = daemon.output()
    for name, value in {**SECRETS, **NETWORK_SECRETS}.items():
        assert value not in log, f"{name} leaked into the daemon's output"
    if isinstance(fake, FakePds):
        # One session for the whole run, refreshed by the SDK, never one per job.
        assert fake.session_creations == 1


def test_kill_9_during_a_post_then_restart_never_posts_twice(
    tmp_path: Path, network: str, fake: FakePds | FakeMastodon, tiny_model_dir: Path
) -> None:
    schedule = """
[schedule]
post_every = "1h"
post_jitter = "0s"
mentions_every = "1s"
heartbeat_every = "1s"
"""
    config = network_home(tmp_path / "bot", network, fake, tiny_model_dir, schedule=schedule)
    # The network takes the post only after a pause, by which time the daemon is dead.
    fake.slow_seconds = 4
    fake.fail_next("slow_then_ok", method="POST", path=POST_PATH[network])
    daemon = DaemonProcess(config, "run", env=network_env())
    try:
        wait_for(lambda: fake.requests_for("POST", POST_PATH[network]), "the post", daemon)
        daemon.kill9()
    finally:
        daemon.ensure_stopped()
    wait_for(lambda: bot_posts(fake), "the slow post to land")
    assert [r.status for r in outbox(config)] == ["pending"]
    restarted = DaemonProcess(config, "run", env=network_env())
    try:
        wait_for(
            lambda: [r.status for r in outbox(config)] == ["posted"],
            "the pending row reconciled as posted",
            restarted,
        )
        assert restarted.terminate() == 0
    finally:
        restarted.ensure_stopped()
    [row] = outbox(config)
    [post] = bot_posts(fake)
    assert row.remote_id == post["id"]


def test_faults_on_posting_never_duplicate_and_the_bot_catches_up(
    tmp_path: Path, network: str, fake: FakePds | FakeMastodon, tiny_model_dir: Path
) -> None:
    config = network_home(tmp_path / "bot", network, fake, tiny_model_dir)
    kinds = ("rate_limit_no_reset", "server_error", "hang", "drop", "html_200")
    for kind in kinds:
        fake.fail_next(kind, method="POST", path=POST_PATH[network])
    daemon = DaemonProcess(config, "run", env=network_env())
    try:
        wait_for(lambda: len(_originals(fake)) >= 2, "posts after the faults", daemon)
        assert daemon.terminate() == 0
    finally:
        daemon.ensure_stopped()
    texts = [p["text"] for p in bot_posts(fake)]
    assert len(texts) == len(set(texts))
    rows = outbox(config)
    posted = [r for r in rows if r.status == "posted"]
    assert {r.remote_id for r in posted} == {p["id"] for p in bot_posts(fake)}
    # A refusal (429) is `failed`; an unclear answer is `unknown` once reconciled, never resent.
    settled = Counter(str(r.status) for r in rows if r.status != "posted")
    assert settled["failed"] >= 1 and settled["unknown"] >= 1, settled
    assert sum(settled.values()) >= len(kinds) - 1


def test_dry_run_writes_nothing_and_warns_about_a_missing_bot_label(
    tmp_path: Path, network: str, fake: FakePds | FakeMastodon, tiny_model_dir: Path
) -> None:
    if isinstance(fake, FakePds):
        fake.set_bot_label(False)
    else:
        fake.set_bot_flag(False)
    config = network_home(tmp_path / "bot", network, fake, tiny_model_dir, dry_run=True)
    mention = _mention(fake, "curious", "hello?")
    daemon = DaemonProcess(config, "run", env=network_env())
    try:
        wait_for(
            lambda: len([r for r in outbox(config) if r.status == "posted"]) >= 3,
            "dry-run posts and the reply",
            daemon,
        )
        assert daemon.terminate() == 0
    finally:
        daemon.ensure_stopped()
    rows = outbox(config)
    assert all(r.dry_run for r in rows)
    assert any(r.mention_id == mention for r in rows)
    assert writes(fake) == [] and bot_posts(fake) == []
    assert "DRY RUN: would" in daemon.output()
    assert "bot" in daemon.output() and "warning" in daemon.output()
    label = "self-label" if network == "bluesky" else "automated account"
    assert label in daemon.output()
