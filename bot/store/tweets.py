"""The `tweets` table: source posts and their cleaning verdicts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bot.errors import StoreError
from bot.store.database import Database
from bot.store.rows import TweetRow
from bot.store.schema import TWEET_COLUMNS
from bot.store.status import Network

_INSERT = (
    f"INSERT OR IGNORE INTO tweets ({', '.join(TWEET_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in TWEET_COLUMNS)})"
)


def _tweet_params(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        unknown = set(row) - set(TWEET_COLUMNS)
        if unknown:
            raise StoreError(f"tweets has no column(s) {', '.join(sorted(unknown))}")
        params = {column: row.get(column) for column in TWEET_COLUMNS}
        params["network"] = str(Network(params["network"] or Network.X))
        yield params


class TweetQueries(Database):
    """Source posts."""

    def insert_tweets(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert source posts (dicts of `tweets` columns), ignoring ones already stored.

        One transaction: the rows are streamed from the iterable, and if anything fails
        part way (a bad row, an exception from the iterator, a full disk, a signal) nothing
        is stored. Returns how many rows were new; with two processes importing overlapping
        files at once, the two counts add up to the rows actually added.
        """
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany(_INSERT, _tweet_params(rows))
            # total_changes counts only rows an INSERT OR IGNORE really inserted.
            return conn.total_changes - before

    def tweets(self, username: str | None = None, network: str | None = None) -> list[TweetRow]:
        """Stored source posts, oldest first, optionally of one source and network."""
        where, params = ["1 = 1"], []
        if username is not None:
            where.append("lower(username) = lower(?)")
            params.append(username)
        if network is not None:
            where.append("network = ?")
            params.append(str(Network(network)))
        rows = self._all(
            f"SELECT * FROM tweets WHERE {' AND '.join(where)} ORDER BY created_at, id", params
        )
        return [TweetRow.from_sql(r) for r in rows]

    def tweet_usernames(self) -> list[str]:
        """Every source username in the store, case-insensitively sorted."""
        rows = self._all("SELECT DISTINCT username FROM tweets ORDER BY lower(username), username")
        return [r["username"] for r in rows]

    def tweet_texts(self) -> list[str]:
        """The raw text of every stored source post, oldest first."""
        return [r["text"] for r in self._all("SELECT text FROM tweets ORDER BY created_at, id")]

    def tweet_count(self) -> int:
        """How many source posts are stored."""
        return int(self._scalar("SELECT count(*) FROM tweets"))

    def count_kept_fetched_after(self, moment: str | None) -> int:
        """Kept source posts fetched after an ISO time (all kept ones when None)."""
        return int(
            self._scalar(
                "SELECT count(*) FROM tweets WHERE kept = 1 AND coalesce(fetched_at, '') > ?",
                [moment or ""],
            )
        )

    def update_verdicts(self, verdicts: Iterable[Mapping[str, Any]]) -> None:
        """Store cleaning results: mappings with id, clean_text, kept, drop_reason (and
        network, default x), all in one transaction."""
        # One executemany: row-by-row updates took a second for a 2,400-tweet corpus.
        params = (
            (v["clean_text"], v["kept"], v["drop_reason"], v.get("network") or "x", v["id"])
            for v in verdicts
        )
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE tweets SET clean_text = ?, kept = ?, drop_reason = ? "
                "WHERE network = ? AND id = ?",
                params,
            )
