"""The review queue's store queries: listing, compare-and-set transitions, edits that must pass
the filters, alternates, expiry, and old databases without the `alternates` column."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from bot.daemon.review import filters_judge
from bot.store import Store, iso, utcnow
from bot.store import review as queue
from tests.daemon_fakes import make_config

PASSING = "the lamp was lit early tonight because the fog came in fast"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    config = make_config(tmp_path)
    opened = Store(config.db_path)
    yield opened
    opened.close()


def _never_refuses(text: str, item: queue.ReviewItem) -> list[tuple[str, str]]:
    return []


def test_awaiting_lists_items_oldest_first_with_their_alternates(store: Store) -> None:
    first = queue.add_for_review(store, "post", "first text", ["alt a", "first text", "alt b"]).id
    second = queue.add_for_review(store, "post", "second text", ["x", "y", "z", "w"]).id
    store.add_post("post", "not for review")
    items = queue.awaiting(store)
    assert [i.id for i in items] == [first, second]
    # The chosen text is never its own alternate, and at most three are kept.
    assert items[0].alternates == ["alt a", "alt b"]
    assert items[1].alternates == ["x", "y", "z"]
    assert items[0].to_dict()["status"] == "awaiting_review"
    assert {"id", "text", "network", "kind", "status", "alternates"} <= set(items[0].to_dict())


def test_approve_is_compare_and_set_and_names_what_the_row_became(store: Store) -> None:
    post_id = queue.add_for_review(store, "post", "hello").id
    assert queue.approve(store, post_id).status == "approved"
    with pytest.raises(queue.ReviewError, match="is approved, not awaiting_review"):
        queue.reject(store, post_id)
    with pytest.raises(queue.ReviewError, match="is approved"):
        queue.approve(store, post_id)
    assert queue.item(store, post_id).status == "approved"  # type: ignore[union-attr]
    assert [i.id for i in queue.approved(store)] == [post_id]
    assert queue.awaiting(store) == []


def test_unknown_id_and_non_review_rows_are_refused(store: Store) -> None:
    with pytest.raises(queue.ReviewError, match="no outbox row with id 99"):
        queue.approve(store, 99)
    pending = store.add_post("post", "already on its way").id
    with pytest.raises(queue.ReviewError, match="is pending"):
        queue.approve(store, pending)
    assert store.posts()[0].status == "pending"


def test_rejected_and_expired_items_leave_the_queue(store: Store) -> None:
    kept = queue.add_for_review(store, "post", "keep me").id
    gone = queue.add_for_review(store, "post", "reject me").id
    queue.reject(store, gone)
    assert [i.id for i in queue.awaiting(store)] == [kept]
    expired = queue.expire_older_than(store, utcnow() + timedelta(seconds=5), "too old")
    assert expired == [kept]
    row = queue.item(store, kept)
    assert row is not None and row.status == "expired" and row.row.reason == "too old"
    assert queue.item(store, gone).status == "rejected"  # type: ignore[union-attr]


def test_edit_must_pass_the_filters_and_says_which_refused(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, filters={"blocked_words": ["kraken"]})
    judge = filters_judge(config, store)
    post_id = queue.add_for_review(store, "post", "original words here").id
    with pytest.raises(queue.EditRefused) as refused:
        queue.edit(store, post_id, "release the kraken at https://example.com now", judge)
    rules = [rule for rule, _ in refused.value.refusals]
    assert rules == ["blocked_words", "urls"]
    assert "blocked_words" in str(refused.value) and refused.value.exit_code == 1
    assert queue.item(store, post_id).text == "original words here"  # type: ignore[union-attr]
    edited = queue.edit(store, post_id, f"  {PASSING}  ", judge)
    assert edited.text == PASSING and edited.status == "awaiting_review"
    with pytest.raises(queue.EditRefused, match="empty"):
        queue.edit(store, post_id, "   ", judge)


def test_an_edit_of_a_settled_item_is_refused(store: Store) -> None:
    post_id = queue.add_for_review(store, "post", "hello").id
    queue.approve(store, post_id)
    with pytest.raises(queue.ReviewError, match="is approved"):
        queue.edit(store, post_id, "something else entirely", _never_refuses)
    assert queue.item(store, post_id).text == "hello"  # type: ignore[union-attr]


def test_a_judge_that_crashes_midway_leaves_the_row_as_it_was(store: Store) -> None:
    post_id = queue.add_for_review(store, "post", "hello", ["alt"]).id

    def crashing(text: str, item: queue.ReviewItem) -> list[tuple[str, str]]:
        raise RuntimeError("filters blew up")

    with pytest.raises(RuntimeError):
        queue.edit(store, post_id, "new words", crashing)
    with pytest.raises(RuntimeError):
        queue.pick_alternate(store, post_id, 0, crashing)
    row = queue.item(store, post_id)
    assert row is not None
    assert (row.text, row.alternates, row.status) == ("hello", ["alt"], "awaiting_review")


def test_pick_alternate_swaps_it_with_the_current_text(store: Store) -> None:
    post_id = queue.add_for_review(store, "post", "chosen", ["other one", "third one"]).id
    picked = queue.pick_alternate(store, post_id, 1, _never_refuses)
    assert picked.text == "third one"
    assert picked.alternates == ["other one", "chosen"]
    with pytest.raises(queue.ReviewError, match="no alternate 5"):
        queue.pick_alternate(store, post_id, 5, _never_refuses)


def test_a_reply_edit_is_judged_as_a_reply_to_the_mention_author(store: Store) -> None:
    store.insert_mentions([{"id": "77", "author_username": "harbour_cat", "text": "@bot hi"}])
    post_id = queue.add_for_review(store, "reply", "@harbour_cat hello", mention_id="77").id
    seen: list[str | None] = []

    def judge(text: str, item: queue.ReviewItem) -> list[tuple[str, str]]:
        seen.append(item.mention_author)
        return []

    queue.edit(store, post_id, "@harbour_cat hello again", judge)
    assert seen == ["harbour_cat"]
    item = queue.item(store, post_id)
    assert item is not None and item.mention_author == "harbour_cat"


def test_two_processes_racing_settle_each_item_exactly_once(tmp_path: Path, store: Store) -> None:
    ids = [queue.add_for_review(store, "post", f"text {n}").id for n in range(20)]
    other = Store(store.path)  # a second connection, as the console or CLI would hold
    outcomes: dict[str, list[int]] = {"approve": [], "reject": []}
    barrier = threading.Barrier(2)

    def run(name: str, target: Store) -> None:
        barrier.wait()
        for post_id in ids:
            try:
                getattr(queue, name)(target, post_id)
                outcomes[name].append(post_id)
            except queue.ReviewError:
                pass

    threads = [
        threading.Thread(target=run, args=("approve", store)),
        threading.Thread(target=run, args=("reject", other)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    assert sorted(outcomes["approve"] + outcomes["reject"]) == ids
    statuses = {queue.item(store, i).status for i in outcomes["approve"]}  # type: ignore[union-attr]
    assert statuses <= {"approved"}


def test_claim_approved_hands_an_item_to_the_outbox_once(store: Store) -> None:
    post_id = queue.add_for_review(store, "post", "hello").id
    assert queue.claim_approved(store, post_id) is False  # not approved yet
    queue.approve(store, post_id)
    assert queue.claim_approved(store, post_id) is True
    assert queue.claim_approved(store, post_id) is False  # a second sender gets nothing
    assert store.posts()[0].status == "pending"
    assert queue.approved(store) == []


def test_replies_to_mentions_past_max_age_expire(store: Store) -> None:
    old, fresh = iso(utcnow() - timedelta(hours=3)), iso(utcnow())
    store.insert_mentions(
        [
            {"id": "1", "author_username": "a", "text": "@b old", "created_at": old},
            {"id": "2", "author_username": "c", "text": "@b new", "created_at": fresh},
            {"id": "3", "author_username": "d", "text": "@b old too", "created_at": old},
        ]
    )
    stale = queue.add_for_review(store, "reply", "@a late", mention_id="1").id
    approved_stale = queue.add_for_review(store, "reply", "@d later", mention_id="3").id
    queue.approve(store, approved_stale)
    live = queue.add_for_review(store, "reply", "@c hi", mention_id="2").id
    cutoff = utcnow() - timedelta(hours=1)
    expired = queue.expire_replies_to_old_mentions(store, cutoff, "mention older than max_age")
    assert sorted(expired) == [stale, approved_stale]
    assert queue.item(store, live).status == "awaiting_review"  # type: ignore[union-attr]
    assert queue.item(store, stale).row.reason == "mention older than max_age"  # type: ignore[union-attr]
    # The mention is settled with it: never answered, and why.
    mentions = {m.id: m for m in store.mentions()}
    assert (mentions["1"].status, mentions["1"].reason) == ("ignored", "mention older than max_age")
    assert mentions["2"].status == "new"


def test_a_rejected_reply_settles_its_mention_and_frees_it_for_nothing_else(store: Store) -> None:
    store.insert_mentions([{"id": "9", "author_username": "a", "text": "@b hi"}])
    reply = queue.add_for_review(store, "reply", "@a hello", mention_id="9").id
    queue.reject(store, reply)
    mention = store.mentions()[0]
    assert (mention.status, mention.reason) == ("ignored", "reply rejected by the operator")
