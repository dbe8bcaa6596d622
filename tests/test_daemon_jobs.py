"""The daemon's jobs called directly, over a real SQLite store and in-memory fakes of X."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.daemon.jobs import Daemon
from bot.daemon.retraining import TrainingOutcome
from bot.errors import BotError
from bot.platform.base import (
    BadResponse,
    DuplicateContent,
    InvalidRequest,
    RateLimited,
    Unavailable,
)
from bot.store import ReplyExists, iso
from tests.daemon_fakes import (
    FakeComposer,
    FakeGenerator,
    FakePlatform,
    FakeTrainer,
    make_config,
    make_rig,
)

# ---- scheduled posts ---------------------------------------------------------------------


def test_post_once_writes_the_outbox_and_posts(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    result = rig.daemon.post_once()
    assert result.outcome == "posted"
    assert [p["text"] for p in rig.platform.posted] == ["generated post number 1"]
    [row] = rig.store.posts()
    assert row["status"] == "posted"
    assert row["tweet_id"] == rig.platform.posted[0]["id"]
    assert row["model_version"] == "v1" and row["prompt"] == "p"


def test_a_skipped_post_is_recorded_with_its_reason(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, composer=FakeComposer(skip="no candidate passed the filters"))
    assert rig.daemon.post_once().outcome == "skipped"
    assert rig.platform.posted == []
    [row] = rig.store.posts()
    assert (row["status"], row["reason"]) == ("skipped", "no candidate passed the filters")


def test_next_post_time_follows_the_last_post_and_survives_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path, schedule={"post_every": "2h", "post_jitter": "10m"})
    rig = make_rig(tmp_path, config)
    now = datetime.now(UTC)
    assert rig.daemon.next_post_time(now) == now  # nothing posted yet: due now
    rig.daemon.post_once()
    last = rig.store.last_post_time()
    assert last is not None
    planned = rig.daemon.next_post_time(now)
    assert last + timedelta(minutes=110) <= planned <= last + timedelta(minutes=130)
    rig.store.set_state("next_run:post", iso(planned))
    # A restart: a new daemon over the same store keeps the plan instead of re-rolling it.
    again = Daemon(config, rig.store, FakePlatform(), FakeComposer())
    assert again.next_post_time(now) == planned.replace(microsecond=0)


def test_a_restart_never_posts_early_even_with_a_bogus_plan(tmp_path: Path) -> None:
    config = make_config(tmp_path, schedule={"post_every": "2h", "post_jitter": "0s"})
    rig = make_rig(tmp_path, config)
    rig.daemon.post_once()
    last = rig.store.last_post_time()
    assert last is not None
    rig.store.set_state("next_run:post", iso(last + timedelta(minutes=5)))
    assert rig.daemon.next_post_time(last) == last + timedelta(hours=2)


def test_no_post_in_quiet_hours_and_the_next_one_waits_for_their_end(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).strftime("%H:00")
    end = (now + timedelta(hours=2)).strftime("%H:00")
    config = make_config(tmp_path, schedule={"quiet_hours": f"{start}-{end}"})
    rig = make_rig(tmp_path, config)
    assert rig.daemon.post_once().outcome == "quiet hours"
    assert rig.platform.posted == []
    due = rig.daemon.next_post_time(now)
    assert due > now + timedelta(hours=1) and due.strftime("%H:%M") == end


def test_daily_cap_counts_replies_and_is_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, limits={"posts_per_day": 2})
    rig = make_rig(tmp_path, config)
    rig.platform.mention(11)
    rig.daemon.reply_to_mentions()
    rig.daemon.post_once()
    result = rig.daemon.post_once()
    assert result.outcome == "capped"
    assert "daily cap reached (2/2 posts today)" in result.detail
    assert len(rig.platform.posted) == 2
    assert rig.store.posts()[0]["reason"] == result.detail


def test_monthly_cap(tmp_path: Path) -> None:
    config = make_config(tmp_path, limits={"posts_per_day": 10, "posts_per_month": 1})
    rig = make_rig(tmp_path, config)
    rig.daemon.post_once()
    assert rig.daemon.post_once().detail.startswith("monthly cap reached")


# ---- the outbox and crash safety -----------------------------------------------------------


def test_pending_row_found_on_the_timeline_is_marked_posted(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    # A crash after X accepted the tweet but before the outbox was updated.
    post_id = rig.store.add_post("post", "a tweet that made it").id
    tweet_id = rig.platform.post("a  tweet that made it")
    rig.platform.posted.clear()
    rig.daemon.reconcile_outbox()
    row = rig.store.posts()[0]
    assert (row["id"], row["status"], row["tweet_id"]) == (post_id, "posted", tweet_id)
    assert rig.platform.posted == []


def test_pending_row_not_on_the_timeline_is_never_resent(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.platform.mention(21)
    rig.store.insert_mentions([{"id": "21", "author_id": "x", "author_username": "alice",
                                "text": "hi", "conversation_id": "21",
                                "created_at": iso(datetime.now(UTC))}])  # fmt: skip
    rig.store.add_post("reply", "lost in a crash", mention_id="21")
    rig.daemon.reconcile_outbox()
    [row] = rig.store.posts()
    assert row["status"] == "unknown"
    rig.daemon.reply_to_mentions()
    # The mention whose reply may exist is never answered again.
    assert rig.platform.posted == []
    assert rig.store.mentions()[0]["status"] == "failed"


def test_an_unclear_answer_keeps_the_row_pending_until_the_timeline_says(tmp_path: Path) -> None:
    class PostsThenGarbles(FakePlatform):
        def post(self, text: str, in_reply_to: str | None = None, key: str | None = None) -> str:
            super().post(text, in_reply_to)
            raise BadResponse("200 with HTML instead of JSON")

    platform = PostsThenGarbles()
    rig = make_rig(tmp_path, platform=platform)
    assert rig.daemon.post_once().outcome == "pending"
    assert rig.store.posts()[0]["status"] == "pending"
    rig.daemon.reconcile_outbox()
    row = rig.store.posts()[0]
    assert row["status"] == "posted" and row["tweet_id"] == platform.posted[0]["id"]
    assert len(platform.posted) == 1


def test_unavailable_on_post_is_not_retried_blindly(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.platform.fail_next("post", Unavailable("read timeout"))
    assert rig.daemon.post_once().outcome == "pending"
    # The next run settles the old row (not on X: unknown) and posts a fresh tweet.
    assert rig.daemon.post_once().outcome == "posted"
    statuses = sorted(r["status"] for r in rig.store.posts())
    assert statuses == ["posted", "unknown"]
    assert len(rig.platform.posted) == 1


def test_reconcile_that_cannot_reach_x_leaves_rows_pending(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.store.add_post("post", "unsure")
    rig.platform.fail_next("user_tweets", Unavailable("503"))
    with pytest.raises(Unavailable):
        rig.daemon.reconcile_outbox()
    assert rig.store.posts()[0]["status"] == "pending"


def test_rate_limited_post_fails_the_row_and_propagates(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    reset = datetime.now(UTC) + timedelta(minutes=3)
    rig.platform.fail_next("post", RateLimited("429", reset))
    with pytest.raises(RateLimited) as raised:
        rig.daemon.post_once()
    assert raised.value.reset_at == reset
    assert rig.store.posts()[0]["status"] == "failed"


def test_refused_post_is_failed_not_retried(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.platform.fail_next("post", DuplicateContent("duplicate content"))
    assert rig.daemon.post_once().outcome == "failed"
    assert rig.store.posts()[0]["reason"].startswith("DuplicateContent")


def test_a_reply_to_a_deleted_tweet_fails_and_the_next_mention_is_still_answered(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path)
    rig.platform.mention(141)
    rig.platform.mention(142, "bob")
    rig.platform.fail_next("post", InvalidRequest("400: in reply to a deleted tweet"))
    rig.daemon.reply_to_mentions()
    assert [p["in_reply_to"] for p in rig.platform.posted] == ["142"]
    statuses = {m["id"]: m["status"] for m in rig.store.mentions()}
    assert statuses == {"141": "failed", "142": "replied"}


# ---- mentions ----------------------------------------------------------------------------


def test_each_mention_is_answered_exactly_once(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.platform.mention(31, "alice")
    rig.platform.mention(32, "bob")
    rig.daemon.reply_to_mentions()
    rig.daemon.reply_to_mentions()
    rig.platform.mention(33, "carol")
    rig.daemon.reply_to_mentions()
    assert sorted(p["in_reply_to"] for p in rig.platform.posted) == ["31", "32", "33"]
    assert rig.store.since_id("mentions") == "33"
    assert {m["status"] for m in rig.store.mentions()} == {"replied"}
    assert all(r["status"] == "posted" and r["kind"] == "reply" for r in rig.store.posts())


def test_the_database_refuses_a_second_live_reply(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.store.add_post("reply", "first", mention_id="41")
    with pytest.raises(ReplyExists):
        rig.store.add_post("reply", "second", mention_id="41")


def test_rate_limited_reply_leaves_the_mention_for_later(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.platform.mention(51)
    rig.platform.fail_next("post", RateLimited("429"))
    with pytest.raises(RateLimited):
        rig.daemon.reply_to_mentions()
    assert rig.store.mentions()[0]["status"] == "new"
    rig.daemon.reply_to_mentions()
    assert [p["in_reply_to"] for p in rig.platform.posted] == ["51"]
    assert rig.store.mentions()[0]["status"] == "replied"


def test_mentions_rate_limited_on_read_propagates(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.platform.fail_next("mentions", RateLimited("429"))
    with pytest.raises(RateLimited):
        rig.daemon.reply_to_mentions()


def _ignored(rig_store: object) -> dict[str, str]:
    return {m["id"]: m["reason"] for m in rig_store.mentions("ignored")}  # type: ignore[attr-defined]


def test_reply_policy_ignores_self_old_and_blocked(tmp_path: Path) -> None:
    config = make_config(tmp_path, replies={"blocked_users": ["@Troll"], "max_age": "10m"})
    rig = make_rig(tmp_path, config)
    rig.platform.mention(61, "thebot", author_id="1000")
    rig.platform.mention(62, "alice", age=timedelta(hours=2))
    rig.platform.mention(63, "troll")
    rig.platform.mention(64, "bob")
    rig.daemon.reply_to_mentions()
    assert [p["in_reply_to"] for p in rig.platform.posted] == ["64"]
    ignored = _ignored(rig.store)
    assert ignored["61"] == "own tweet"
    assert ignored["62"].startswith("older than max_age")
    assert ignored["63"] == "blocked user"
    skips = {r["mention_id"]: r["reason"] for r in rig.store.posts("skipped")}
    assert set(skips) == {"62", "63"}  # the bot's own tweet is not worth a skip row


def test_at_most_n_replies_per_user_per_hour(tmp_path: Path) -> None:
    config = make_config(tmp_path, replies={"max_per_user_per_hour": 2})
    rig = make_rig(tmp_path, config)
    for tweet_id in (71, 72, 73):
        rig.platform.mention(tweet_id, "alice")
    rig.platform.mention(74, "bob")
    rig.daemon.reply_to_mentions()
    assert sorted(p["in_reply_to"] for p in rig.platform.posted) == ["71", "72", "74"]
    assert _ignored(rig.store)["73"].startswith("max_per_user_per_hour")


def test_thread_depth_stops_a_long_conversation(tmp_path: Path) -> None:
    config = make_config(tmp_path, replies={"max_thread_depth": 2, "max_per_user_per_hour": 9})
    rig = make_rig(tmp_path, config)
    for tweet_id in (81, 82, 83):
        rig.platform.mention(tweet_id, f"user{tweet_id}", conversation_id="80")
    rig.daemon.reply_to_mentions()
    assert len(rig.platform.posted) == 2
    assert _ignored(rig.store)["83"].startswith("max_thread_depth")


@pytest.mark.parametrize(
    ("pace", "answered", "loop_detected"),
    [
        # Another bot answers each of our replies within a second: its third mention is a loop.
        (timedelta(seconds=1), ["91", "92"], True),
        # A person takes minutes: every mention is answered.
        (timedelta(minutes=2), ["91", "92", "93"], False),
    ],
)
def test_only_an_account_that_answers_faster_than_a_human_is_a_loop(
    tmp_path: Path, pace: timedelta, answered: list[str], loop_detected: bool
) -> None:
    config = make_config(
        tmp_path,
        replies={"loop_replies": 2, "loop_min_interval": "20s", "max_per_user_per_hour": 99,
                 "max_thread_depth": 99},
    )  # fmt: skip
    rig = make_rig(tmp_path, config)
    rig.platform.mention(91, "other")
    rig.daemon.reply_to_mentions()
    for tweet_id in (92, 93):
        ours = rig.platform.posted[-1]["id"]
        rig.platform.mention(tweet_id, "other", in_reply_to_tweet_id=ours,
                             created_at=datetime.now(UTC) + pace)  # fmt: skip
        rig.daemon.reply_to_mentions()
    assert [p["in_reply_to"] for p in rig.platform.posted] == answered
    assert _ignored(rig.store).get("93", "").startswith("bot loop") is loop_detected


def test_a_reached_cap_leaves_mentions_new(tmp_path: Path) -> None:
    config = make_config(tmp_path, limits={"posts_per_day": 1})
    rig = make_rig(tmp_path, config)
    rig.platform.mention(111)
    rig.platform.mention(112, "bob")
    rig.daemon.reply_to_mentions()
    assert len(rig.platform.posted) == 1
    assert [m["id"] for m in rig.store.mentions("new")] == ["112"]


def test_replies_disabled_reads_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path, replies={"enabled": False})
    rig = make_rig(tmp_path, config)
    rig.platform.mention(121)
    assert rig.daemon.reply_to_mentions().outcome == "replies disabled"
    assert rig.store.mentions() == [] and rig.platform.posted == []


def test_a_reply_the_filters_reject_is_skipped_with_its_reason(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, composer=FakeComposer(skip="failed: blocked_words x8"))
    rig.platform.mention(131)
    rig.daemon.reply_to_mentions()
    assert rig.platform.posted == []
    assert rig.store.mentions()[0]["reason"] == "failed: blocked_words x8"


# ---- retraining --------------------------------------------------------------------------


def _add_kept_tweets(rig_store: object, count: int) -> None:
    rows = [
        {"id": str(9000 + i), "username": "src", "text": f"t{i}", "kind": "original",
         "kept": 1, "fetched_at": iso(datetime.now(UTC)), "created_at": iso(datetime.now(UTC))}
        for i in range(count)
    ]  # fmt: skip
    rig_store.insert_tweets(rows)  # type: ignore[attr-defined]


def test_retrain_waits_for_enough_new_tweets(tmp_path: Path) -> None:
    config = make_config(tmp_path, training={"min_new_tweets": 5})
    fetched: list[int] = []
    rig = make_rig(tmp_path, config, fetch=lambda store, platform, cfg: fetched.append(1))
    _add_kept_tweets(rig.store, 3)
    assert rig.daemon.retrain().outcome == "too few new tweets"
    assert fetched == [1] and rig.trainer.runs == 0


def test_retrain_promotes_and_hot_swaps(tmp_path: Path) -> None:
    config = make_config(tmp_path, training={"min_new_tweets": 2})
    trainer = FakeTrainer(TrainingOutcome("v2", True, 3.2, {"version": "v2"}))
    refreshed: list[int] = []
    rig = make_rig(
        tmp_path,
        config,
        trainer=trainer,
        fetch=lambda store, platform, cfg: _add_kept_tweets(store, 4),
        on_sources_changed=lambda: refreshed.append(1),
    )
    # The trainer child registers the version and promotes it in the registry.
    trainer.store, trainer.path = rig.store, str(tmp_path / "models" / "v2")
    assert rig.daemon.retrain().outcome == "promoted"
    assert rig.generator.reloaded == [str(tmp_path / "models" / "v2")]
    assert rig.daemon.model_version == "v2"
    assert len(refreshed) == 2  # after the fetch, and after the swap
    # The heartbeat follows the registry too: the version is loaded already, so no second load.
    assert rig.daemon.heartbeat().detail == "up to date"
    assert rig.generator.reloaded == [str(tmp_path / "models" / "v2")]


def test_a_reload_to_the_version_already_loaded_does_nothing(tmp_path: Path) -> None:
    """The trainer reports the promoted path in another spelling than the registry (a
    symlinked models dir): still one load, by the one owner that follows the registry."""
    config = make_config(tmp_path, training={"min_new_tweets": 1})
    real = tmp_path / "real-models" / "v2"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real-models")
    trainer = FakeTrainer(TrainingOutcome("v2", True, 3.2, {"path": str(tmp_path / "link/v2")}))
    rig = make_rig(tmp_path, config, trainer=trainer)
    trainer.store, trainer.path = rig.store, str(tmp_path / "link" / "v2")
    _add_kept_tweets(rig.store, 2)
    assert rig.daemon.retrain().outcome == "promoted"
    for _ in range(3):
        assert rig.daemon.heartbeat().detail == "up to date"
    assert len(rig.generator.reloaded) == 1


def test_a_failed_or_rejected_training_changes_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path, training={"min_new_tweets": 1})
    rig = make_rig(tmp_path, config, trainer=FakeTrainer(None))
    _add_kept_tweets(rig.store, 2)
    assert rig.daemon.retrain().outcome == "failed"
    rig.daemon.trainer = FakeTrainer(TrainingOutcome("v3", False, 9.9))
    assert rig.daemon.retrain().outcome == "not promoted"
    assert rig.generator.reloaded == [] and rig.daemon.model_version == "v1"


def test_stop_terminates_the_trainer_and_blocks_new_work(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.daemon.request_stop()
    assert rig.trainer.terminated
    assert rig.daemon.post_once().outcome == "stopping"
    assert rig.platform.posted == []


def test_heartbeat(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.daemon.heartbeat()
    assert rig.store.last_heartbeat() is not None


def test_a_manual_rollback_reaches_the_running_daemon_at_the_next_beat(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    for version in ("v1", "v2"):
        rig.store.add_model_version(
            version, f"/models/{version}", base="gpt2", eval_loss=2.0, train_loss=2.0
        )
    rig.store.set_current_model("v1")
    assert rig.daemon.heartbeat().detail == "up to date"
    rig.store.set_current_model("v2")  # `tweetbot models promote v2` in another process
    assert rig.daemon.heartbeat().detail == "switched"
    assert rig.generator.reloaded == ["/models/v2"]
    assert rig.daemon.heartbeat().detail == "up to date"


def test_an_unloadable_current_version_is_tried_once_and_the_old_model_stays(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path)
    rig.store.add_model_version("bad", "/models/bad", base="gpt2", eval_loss=2.0, train_loss=2.0)
    rig.store.set_current_model("bad")
    rig.generator.broken.add("/models/bad")
    assert rig.daemon.heartbeat().detail == "reload failed"
    assert rig.daemon.heartbeat().detail == "current version unloadable"
    assert rig.generator.version == "v1"
    assert rig.store.last_heartbeat() is not None


def test_a_row_being_sent_is_not_taken_for_a_crash_leftover(tmp_path: Path) -> None:
    class ReconcilesMidSend(FakePlatform):
        """Another job reconciles the outbox while this post is on its way to X."""

        daemon: Daemon

        def post(self, text: str, in_reply_to: str | None = None, key: str | None = None) -> str:
            self.seen = self.daemon.reconcile_outbox().outcome
            return super().post(text, in_reply_to)

    platform = ReconcilesMidSend()
    rig = make_rig(tmp_path, platform=platform)
    platform.daemon = rig.daemon
    assert rig.daemon.post_once().outcome == "posted"
    assert platform.seen == "nothing to reconcile"
    assert [r["status"] for r in rig.store.posts()] == ["posted"]


def test_a_promoted_version_that_fails_to_load_keeps_the_old_model(tmp_path: Path) -> None:
    class BrokenReload(FakeGenerator):
        def reload(self, model_dir: object) -> None:
            raise BotError(f"{model_dir}: not a model directory")

    config = make_config(tmp_path, training={"min_new_tweets": 1})
    trainer = FakeTrainer(TrainingOutcome("v9", True, 1.0, {"version": "v9", "path": "/x/v9"}))
    rig = make_rig(tmp_path, config, trainer=trainer, generator=BrokenReload())
    trainer.store, trainer.path = rig.store, "/x/v9"
    _add_kept_tweets(rig.store, 2)
    result = rig.daemon.retrain()
    assert result.outcome == "reload failed" and "/x/v9" in result.detail
    assert rig.daemon.model_version == "v1"
    assert rig.daemon.post_once().outcome == "posted"  # still posting with the old model
