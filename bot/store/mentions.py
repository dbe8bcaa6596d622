"""The `mentions` table: mentions of the bot per network, and what became of each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bot.errors import StoreError
from bot.store.clock import iso, utcnow
from bot.store.outbox import OutboxQueries
from bot.store.rows import MentionRow
from bot.store.schema import MENTION_COLUMNS
from bot.store.status import MentionStatus, Network

_INSERT = (
    f"INSERT OR IGNORE INTO mentions ({', '.join(MENTION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in MENTION_COLUMNS)})"
)


def _mention_params(rows: Iterable[Mapping[str, Any]], network: str) -> Iterator[dict[str, Any]]:
    received = iso(utcnow())
    for row in rows:
        unknown = set(row) - set(MENTION_COLUMNS)
        if unknown:
            raise StoreError(f"mentions has no column(s) {', '.join(sorted(unknown))}")
        params = {column: row.get(column) for column in MENTION_COLUMNS}
        params["network"] = network
        params["status"] = str(MentionStatus(params["status"] or MentionStatus.NEW))
        params["received_at"] = params["received_at"] or received
        yield params


class MentionQueries(OutboxQueries):
    """Mentions."""

    def insert_mentions(
        self, rows: Iterable[Mapping[str, Any]], network: Network | str = Network.X
    ) -> int:
        """Store mentions (dicts of `mentions` columns) as `new`, ignoring known ones; returns
        how many were new. One transaction."""
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany(_INSERT, _mention_params(rows, str(Network(network))))
            return conn.total_changes - before

    def store_mentions_page(
        self,
        rows: Iterable[Mapping[str, Any]],
        newest_id: str,
        network: Network | str = Network.X,
    ) -> int:
        """A fetched page of mentions and the since_id past it, together or not at all."""
        with self.transaction():
            new = self.insert_mentions(rows, network)
            self._advance_since_id("mentions", newest_id, str(Network(network)))
            return new

    def mentions_baseline(self, network: Network | str = Network.X) -> str | None:
        """When the bot first looked at its mentions on a network (None: not yet)."""
        return self.get_state(f"mentions_baseline:{Network(network)}")

    def set_mentions_baseline(
        self, newest_id: str | None, network: Network | str = Network.X
    ) -> None:
        """First start on a network: mentions up to `newest_id` are history, not work.

        The since_id moves past them (when there are any) and the baseline moment is stored,
        in one transaction; nothing of the backlog is stored as rows.
        """
        net = str(Network(network))
        with self.transaction():
            if newest_id is not None:
                self._advance_since_id("mentions", newest_id, net)
            self._put_state(f"mentions_baseline:{net}", iso(utcnow()))

    def mentions(
        self, status: MentionStatus | str | None = None, network: Network | str | None = None
    ) -> list[MentionRow]:
        """Stored mentions, oldest first, optionally of one status and network."""
        where, params = ["1 = 1"], []
        if status is not None:
            where.append("status = ?")
            params.append(str(MentionStatus(status)))
        if network is not None:
            where.append("network = ?")
            params.append(str(Network(network)))
        rows = self._all(
            f"SELECT * FROM mentions WHERE {' AND '.join(where)} ORDER BY created_at, id", params
        )
        return [MentionRow.from_sql(r) for r in rows]

    def mark_mention(
        self,
        mention_id: str,
        status: MentionStatus | str,
        reason: str | None = None,
        network: Network | str = Network.X,
    ) -> None:
        """Record what became of a mention: replied, ignored (with reason) or failed."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE mentions SET status = ?, reason = ? WHERE network = ? AND id = ?",
                [str(MentionStatus(status)), reason, str(Network(network)), mention_id],
            )
