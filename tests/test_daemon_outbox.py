"""The outbox in motion over a real SQLite file: claim -> send -> record -> release with real
threads, reconcile as a compare-and-set, dry-run rows, the first start, and day caps in the
configured time zone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.daemon import policy
from bot.daemon.jobs import Daemon
from bot.platform.base import Tweet
from bot.store import MentionStatus, PostStatus, Store, iso, utcnow
from tests.daemon_fakes import (
    FakeComposer,
    FakeGenerator,
    FakePlatform,
    FakeTrainer,
    make_config,
    make_rig,
)


class LaggingTimeline(FakePlatform):
    """X's timeline shows a new post only after a while (it is eventually consistent)."""

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        self._raise_queued("user_tweets")
        yield []


class SlowToRecord(Store):
    """Holds the sender between the network's answer and the outbox record, so that another
    thread can act in exactly that window."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.answered = threading.Event()
        self.may_record = threading.Event()

    def mark_post(self, post_id: int, status: PostStatus | str, **kwargs: Any) -> bool:
        if status == PostStatus.POSTED and not self.may_record.is_set():
            self.answered.set()
            self.may_record.wait(timeout=10)
        return super().mark_post(post_id, status, **kwargs)


def _daemon(tmp_path: Path, store: Store, platform: FakePlatform, **kwargs: Any) -> Daemon:
    config = make_config(tmp_path)
    return Daemon(config, store, platform, FakeComposer(), FakeGenerator(), trainer=FakeTrainer(),
                  **kwargs)  # fmt: skip


def test_a_reconcile_between_the_answer_and_the_record_leaves_the_row_alone(
    tmp_path: Path,
) -> None:
    """The race of issue 12: the claim was released before `posted` was recorded, so a
    reconcile in another job found a pending row nobody claimed and marked it unknown."""
    config = make_config(tmp_path)
    store = SlowToRecord(config.db_path)
    store.set_mentions_baseline(None)
    platform = LaggingTimeline()
    daemon = _daemon(tmp_path, store, platform)
    results: dict[str, str] = {}

    def post_job() -> None:
        results["post"] = daemon.post_once().outcome

    sender = threading.Thread(target=post_job)
    sender.start()
    assert store.answered.wait(timeout=10)  # X has answered; the row is not recorded yet
    results["reconcile"] = daemon.reconcile_outbox().outcome  # another job, another thread
    store.may_record.set()
    sender.join(timeout=10)
    assert results == {"post": "posted", "reconcile": "nothing to reconcile"}
    [row] = store.posts()
    assert (row.status, row.remote_id) == (PostStatus.POSTED, platform.posted[0]["id"])


def test_a_reply_recorded_after_a_concurrent_reconcile_marks_its_mention_replied(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    store = SlowToRecord(config.db_path)
    store.set_mentions_baseline(None)
    platform = LaggingTimeline()
    platform.mention(31)
    daemon = _daemon(tmp_path, store, platform)
    sender = threading.Thread(target=daemon.reply_to_mentions)
    sender.start()
    assert store.answered.wait(timeout=10)
    assert daemon.reconcile_outbox().outcome == "nothing to reconcile"
    store.may_record.set()
    sender.join(timeout=10)
    assert [r.status for r in store.posts()] == [PostStatus.POSTED]
    assert [(m.id, m.status) for m in store.mentions()] == [("31", MentionStatus.REPLIED)]


def test_reconcile_never_overwrites_a_row_someone_else_settled(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, platform=LaggingTimeline())
    row = rig.store.add_post("post", "left pending by a crash")
    stale = rig.daemon.outbox._stale_pending()
    assert [r.id for r in stale] == [row.id]
    # Between the scan and the update, another process settles it.
    assert rig.store.mark_post(row.id, PostStatus.POSTED, remote_id="77")
    assert rig.daemon.outbox.reconcile() == 0
    settled = rig.store.post(row.id)
    assert settled is not None and (settled.status, settled.remote_id) == ("posted", "77")


def test_dry_run_rows_are_marked_and_have_their_own_budget(tmp_path: Path) -> None:
    config = make_config(tmp_path, limits={"posts_per_day": 1})
    live = make_rig(tmp_path, config)
    assert live.daemon.post_once().outcome == "posted"
    assert live.daemon.post_once().outcome == "capped"
    dry = Daemon(config, live.store, FakePlatform(), FakeComposer(), FakeGenerator(),
                 dry_run=True)  # fmt: skip
    assert dry.post_once().outcome == "posted"  # the live row does not count for a dry run
    assert dry.post_once().outcome == "capped"
    rows = live.store.posts()
    assert sorted((r.dry_run, r.status) for r in rows) == [
        (False, "posted"),
        (False, "skipped"),
        (True, "posted"),
        (True, "skipped"),
    ]
    now = utcnow()
    assert policy.budget(live.store, config, now).today == 1
    assert policy.budget(live.store, config, now, dry_run=True).today == 1


def test_a_first_start_skips_the_backlog_instead_of_storing_it(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, first_start=True)
    for number in (11, 12, 13):
        rig.platform.mention(number)
    result = rig.daemon.reply_to_mentions()
    assert result.outcome == "baseline"
    assert rig.store.mentions() == [] and rig.store.posts() == []
    assert rig.store.since_id("mentions") == "13"
    rig.platform.mention(14)
    assert rig.daemon.reply_to_mentions().detail == "1 reply"
    assert [m.id for m in rig.store.mentions()] == ["14"]


def test_a_first_start_without_mentions_still_answers_the_first_new_one(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, first_start=True)
    assert rig.daemon.reply_to_mentions().outcome == "baseline"
    rig.platform.mention(21)
    assert rig.daemon.reply_to_mentions().detail == "1 reply"


def test_day_caps_begin_at_midnight_in_the_configured_time_zone(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, schedule={"timezone": "America/New_York"}, limits={"posts_per_day": 1}
    )
    rig = make_rig(tmp_path, config)
    row = rig.store.add_post("post", "late last evening, New York time")
    # 23:30 in New York on 9 March is 03:30 UTC on 10 March (EDT began on 9 March 2026).
    evening = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    rig.store.conn.execute("UPDATE posts SET created_at = ? WHERE id = ?", [iso(evening), row.id])
    same_evening = evening + timedelta(minutes=20)
    next_morning = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # 09:00 in New York
    assert policy.budget(rig.store, config, same_evening).today == 1
    assert policy.budget(rig.store, config, next_morning).today == 0  # a UTC day would say 1
    day, month = policy.day_and_month_start(next_morning, "America/New_York")
    assert (day, month) == (
        datetime(2026, 3, 10, 4, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 5, 0, tzinfo=UTC),  # 1 March was still EST
    )


def test_an_approved_row_is_claimed_once_and_sent(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    waiting = rig.store.add_post("post", "looked at by a person", status="awaiting_review")
    assert rig.daemon.outbox.claim(waiting.id) is None  # not approved yet
    assert rig.store.mark_post(waiting.id, PostStatus.APPROVED)
    claimed = rig.daemon.outbox.claim(waiting.id)
    assert claimed is not None and claimed.status is PostStatus.PENDING
    assert rig.daemon.outbox.claim(waiting.id) is None  # a second sender gets nothing
    assert rig.daemon.reconcile_outbox().outcome == "nothing to reconcile"  # it is claimed
    assert rig.daemon.outbox.send(claimed) is PostStatus.POSTED
    assert [p["text"] for p in rig.platform.posted] == ["looked at by a person"]
