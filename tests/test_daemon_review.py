"""Review mode in the daemon's jobs ([review] posts/replies = "approve"), called directly over
a real SQLite store with the in-memory platform and composer of tests/daemon_fakes.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.platform.base import Mention, RateLimited
from bot.store import PostStatus
from bot.store import review as queue
from tests.daemon_fakes import FakeComposer, make_config, make_rig


@dataclass(frozen=True)
class Judged:
    text: str
    passed: bool
    mean_logprob: float


@dataclass
class Draft:
    text: str | None
    skip_reason: str | None = None
    prompt: str | None = None
    candidates: list[Judged] = field(default_factory=list)


@dataclass
class ComposerWithAlternates(FakeComposer):
    """Each draft carries its chosen text and three other passing candidates (and a failed
    one, which must never become an alternate)."""

    def post(self, prompt: str | None = None) -> Any:
        number = next(self.counter)
        text = f"post {number}"
        others = [Judged(f"post {number} alt {k}", True, -1.0 - k) for k in range(3)]
        failing = Judged(f"post {number} bad", False, 0.0)
        return Draft(text, prompt="p", candidates=[Judged(text, True, -0.5), failing, *others])

    def reply(self, mention: Mention) -> Any:
        number, who = next(self.counter), mention.author_username
        return Draft(
            f"@{who} reply {number}", candidates=[Judged(f"@{who} other {number}", True, -2)]
        )


def _rig(tmp_path: Path, **sections: dict[str, Any]) -> Any:
    review = {"posts": "approve", "replies": "approve", **sections.pop("review", {})}
    config = make_config(tmp_path, review=review, **sections)
    return make_rig(tmp_path, config, composer=ComposerWithAlternates())


def test_an_approve_mode_post_waits_with_alternates_and_nothing_is_sent(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    assert rig.daemon.post_once().outcome == "awaiting review"
    [item] = queue.awaiting(rig.store)
    assert item.text == "post 1"
    assert item.alternates == ["post 1 alt 0", "post 1 alt 1", "post 1 alt 2"]
    # One draft waits at a time; the next run drafts nothing new and sends nothing.
    assert rig.daemon.post_once().outcome == "awaiting review"
    assert len(queue.awaiting(rig.store)) == 1
    assert rig.platform.posted == []


def test_an_approved_post_is_sent_once_and_a_rejected_one_never(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    rig.daemon.post_once()
    first = queue.awaiting(rig.store)[0]
    queue.approve(rig.store, first.id)
    result = rig.daemon.post_once()
    assert (result.outcome, result.detail) == ("posted", "post 1")
    assert [p["text"] for p in rig.platform.posted] == ["post 1"]
    assert rig.store.post(first.id).status == PostStatus.POSTED  # type: ignore[union-attr]
    # The next slot drafts again; rejected, that draft is never sent.
    assert rig.daemon.post_once().outcome == "awaiting review"
    second = queue.awaiting(rig.store)[0]
    queue.reject(rig.store, second.id)
    for _ in range(3):
        rig.daemon.post_once()
        for waiting in queue.awaiting(rig.store):
            queue.reject(rig.store, waiting.id)
    assert [p["text"] for p in rig.platform.posted] == ["post 1"]


def test_an_approved_post_waits_out_quiet_hours(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    quiet = f"{(now - timedelta(hours=1)):%H}:00-{(now + timedelta(hours=2)):%H}:00"
    rig = _rig(tmp_path, schedule={"quiet_hours": quiet})
    waiting = queue.add_for_review(rig.store, "post", "approved before the night")
    queue.approve(rig.store, waiting.id)
    assert rig.daemon.post_once().outcome == "quiet hours"
    assert rig.platform.posted == []
    assert rig.store.post(waiting.id).status == PostStatus.APPROVED  # type: ignore[union-attr]


def test_an_approved_post_counts_once_against_the_budget(tmp_path: Path) -> None:
    rig = _rig(tmp_path, limits={"posts_per_day": 2})
    sent = rig.store.add_post("post", "sent this morning").id
    rig.store.mark_post(sent, PostStatus.POSTED, remote_id="1")
    waiting = queue.add_for_review(rig.store, "post", "approved text")
    queue.approve(rig.store, waiting.id)
    # 2 rows count today, the approved one among them: sending it keeps the day at 2.
    assert rig.daemon.post_once().outcome == "posted"
    over = queue.add_for_review(rig.store, "post", "one too many")
    queue.approve(rig.store, over.id)
    result = rig.daemon.post_once()
    assert result.outcome == "capped" and "daily cap" in result.detail
    assert rig.store.post(over.id).status == PostStatus.APPROVED  # type: ignore[union-attr]
    assert [p["text"] for p in rig.platform.posted] == ["approved text"]


def test_items_nobody_reviewed_expire_and_are_never_sent(tmp_path: Path) -> None:
    rig = _rig(tmp_path, review={"expire_after": "1h"})
    rig.daemon.post_once()
    item = queue.awaiting(rig.store)[0]
    later = make_rig(tmp_path, rig.daemon.config, platform=rig.platform,
                     composer=ComposerWithAlternates(),
                     clock=lambda: datetime.now(UTC) + timedelta(hours=2))  # fmt: skip
    assert later.daemon.post_once().outcome == "awaiting review"  # a fresh draft
    row = later.store.post(item.id)
    assert row is not None and row.status == PostStatus.EXPIRED
    assert row.reason == "not reviewed within 1h"
    assert rig.platform.posted == []


def test_an_approve_mode_reply_waits_then_goes_out_once_approved(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    mention = rig.platform.mention(7001, "harbour_cat")
    rig.daemon.reply_to_mentions()
    [item] = queue.awaiting(rig.store)
    assert (item.kind, item.row.mention_id, item.text) == ("reply", "7001", "@harbour_cat reply 1")
    assert item.alternates == ["@harbour_cat other 1"]
    rig.daemon.reply_to_mentions()  # the mention is not drafted twice while its reply waits
    assert len(queue.awaiting(rig.store)) == 1 and rig.platform.posted == []
    queue.approve(rig.store, item.id)
    rig.daemon.reply_to_mentions()
    assert rig.platform.posted == [
        {"id": rig.platform.posted[0]["id"], "text": "@harbour_cat reply 1",
         "in_reply_to": mention.id}
    ]  # fmt: skip
    assert rig.store.mentions()[0].status == "replied"
    rig.daemon.reply_to_mentions()
    assert len(rig.platform.posted) == 1


def test_a_rejected_reply_leaves_its_mention_unanswered_for_good(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    rig.platform.mention(7002, "north_sea_sam")
    rig.daemon.reply_to_mentions()
    queue.reject(rig.store, queue.awaiting(rig.store)[0].id)
    rig.daemon.reply_to_mentions()
    assert queue.awaiting(rig.store) == [] and rig.platform.posted == []
    mention = rig.store.mentions()[0]
    assert (mention.status, mention.reason) == ("ignored", "reply rejected by the operator")


def test_an_approved_reply_to_a_mention_past_max_age_expires(tmp_path: Path) -> None:
    rig = _rig(tmp_path, replies={"max_age": "1h"})
    rig.platform.mention(7003, "lamp_fan", age=timedelta(minutes=30))
    rig.daemon.reply_to_mentions()
    item = queue.awaiting(rig.store)[0]
    queue.approve(rig.store, item.id)
    later = make_rig(tmp_path, rig.daemon.config, platform=rig.platform,
                     clock=lambda: datetime.now(UTC) + timedelta(hours=1))  # fmt: skip
    later.daemon.reply_to_mentions()
    row = later.store.post(item.id)
    assert row is not None and row.status == PostStatus.EXPIRED
    assert rig.platform.posted == []


def test_a_crash_after_the_claim_never_sends_the_approved_post_twice(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    waiting = queue.add_for_review(rig.store, "post", "claimed then the process died")
    queue.approve(rig.store, waiting.id)
    assert rig.daemon.outbox.claim(waiting.id) is not None  # approved -> pending, then "kill -9"
    restarted = make_rig(tmp_path, rig.daemon.config, platform=rig.platform,
                         composer=ComposerWithAlternates())  # fmt: skip
    restarted.daemon.post_once()
    row = restarted.store.post(waiting.id)
    assert (
        row is not None and row.status == PostStatus.UNKNOWN
    )  # not on the timeline: never re-sent
    assert rig.platform.posted == []


def test_auto_mode_is_unchanged(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, make_config(tmp_path), composer=ComposerWithAlternates())
    assert rig.daemon.post_once().outcome == "posted"
    assert queue.awaiting(rig.store) == []


def test_an_approved_post_refused_with_a_429_stays_approved_and_goes_out_after(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    rig.daemon.post_once()
    item = queue.awaiting(rig.store)[0]
    queue.approve(rig.store, item.id)
    rig.platform.fail_next("post", RateLimited("slow down", reset_at=None))
    with pytest.raises(RateLimited):
        rig.daemon.post_once()
    # Nothing was created, and the operator's approval is not spent on the refusal.
    row = rig.store.post(item.id)
    assert row is not None and row.status == PostStatus.APPROVED
    assert "rate limited" in (row.reason or "")
    assert rig.platform.posted == []
    result = rig.daemon.post_once()
    assert (result.outcome, result.detail) == ("posted", "post 1")
    assert [p["text"] for p in rig.platform.posted] == ["post 1"]
