"""The fake X server itself behaves like API v2 where the bot depends on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from scripts.fakes import FakeX

ROOT = Path(__file__).resolve().parent.parent
OAUTH = {"Authorization": 'OAuth oauth_consumer_key="ck"'}


def get(fake: FakeX, path: str, **params: str) -> requests.Response:
    return requests.get(fake.base_url + path, params=params, headers=OAUTH, timeout=5)


def test_fields_not_requested_are_absent(fake_x: FakeX) -> None:
    fake_x.add_tweets("dril", [{"text": "hi", "entities": {"urls": []}}])
    user_id = fake_x.user_by_username("dril")["id"]  # type: ignore[index]
    bare = get(fake_x, f"/2/users/{user_id}/tweets").json()
    assert set(bare["data"][0]) == {"id", "text", "edit_history_tweet_ids"}
    assert "includes" not in bare
    full = get(
        fake_x,
        f"/2/users/{user_id}/tweets",
        **{"tweet.fields": "created_at,author_id,entities", "expansions": "author_id"},
    ).json()
    assert {"created_at", "author_id", "entities"} <= set(full["data"][0])
    assert full["includes"]["users"] == [{"id": user_id, "name": "Dril", "username": "dril"}]
    assert set(full["meta"]) == {"result_count", "newest_id", "oldest_id"}


def test_expanded_referenced_tweets(fake_x: FakeX) -> None:
    [quoted] = fake_x.add_tweets("other", [{"text": "quoted"}])
    fake_x.add_tweets(
        "dril", [{"text": "q", "referenced_tweets": [{"type": "quoted", "id": quoted["id"]}]}]
    )
    user_id = fake_x.user_by_username("dril")["id"]  # type: ignore[index]
    body = get(
        fake_x,
        f"/2/users/{user_id}/tweets",
        **{
            "tweet.fields": "author_id",
            "expansions": "referenced_tweets.id.author_id,referenced_tweets.id",
        },
    ).json()
    assert [t["text"] for t in body["includes"]["tweets"]] == ["quoted"]
    assert {u["username"] for u in body["includes"]["users"]} == {"other"}


@pytest.mark.parametrize(
    "params",
    [
        {"max_results": "4"},
        {"max_results": "101"},
        {"tweet.fields": "bogus"},
        {"expansions": "nope"},
    ],
)
def test_invalid_parameters_are_400_problem_json(fake_x: FakeX, params: dict[str, str]) -> None:
    response = get(fake_x, "/2/users/1000/mentions", **params)
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Request"


def test_empty_page_has_only_meta(fake_x: FakeX) -> None:
    assert get(fake_x, "/2/users/1000/mentions").json() == {"meta": {"result_count": 0}}


def test_unauthenticated_and_app_only_writes_are_refused(fake_x: FakeX) -> None:
    assert requests.get(fake_x.base_url + "/2/users/me", timeout=5).status_code == 401
    bearer = {"Authorization": "Bearer abc"}
    response = requests.post(
        fake_x.base_url + "/2/tweets", json={"text": "x"}, headers=bearer, timeout=5
    )
    assert response.status_code == 403
    assert fake_x.posted == []


def test_unknown_username_is_200_with_errors(fake_x: FakeX) -> None:
    body = get(fake_x, "/2/users/by/username/ghost").json()
    assert "data" not in body
    assert body["errors"][0]["title"] == "Not Found Error"


def test_faults_are_count_limited(fake_x: FakeX) -> None:
    fake_x.fail_next("/2/users/me", "server_error", count=2)
    assert [get(fake_x, "/2/users/me").status_code for _ in range(3)] == [500, 500, 200]
    with pytest.raises(ValueError, match="unknown fault"):
        fake_x.fail_next(".*", "gremlins")


def test_standalone_server_with_state_and_control_api(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "me": {"username": "standalone_bot", "id": "77"},
                "tweets": {"dril": [{"text": "from the state file"}]},
                "mentions": [{"text": "@standalone_bot hey", "author": "fan"}],
            }
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.fakes.x_server", "--port", "0", "--state", str(state)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        base = line.split()[-1]
        me = requests.get(base + "/2/users/me", headers=OAUTH, timeout=5).json()
        assert me["data"]["username"] == "standalone_bot"
        requests.post(
            base + "/_control/mentions", json={"text": "@standalone_bot again"}, timeout=5
        )
        mentions = requests.get(base + "/2/users/77/mentions", headers=OAUTH, timeout=5).json()
        assert [t["text"] for t in mentions["data"]] == [
            "@standalone_bot again",
            "@standalone_bot hey",
        ]
        requests.post(base + "/2/tweets", json={"text": "posted"}, headers=OAUTH, timeout=5)
        posted = requests.get(base + "/_control/posted", timeout=5).json()
        assert [p["text"] for p in posted] == ["posted"]
        requests.post(
            base + "/_control/faults",
            json={"path": "/2/users/me", "kind": "unauthorized"},
            timeout=5,
        )
        assert requests.get(base + "/2/users/me", headers=OAUTH, timeout=5).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
