"""The `state` table: since_ids per network and stream, the heartbeat, job plans."""

from __future__ import annotations

from datetime import datetime

from bot.store.clock import iso, parse_iso, utcnow
from bot.store.database import Database
from bot.store.status import Network


def since_id_key(stream: str, network: str = Network.X) -> str:
    """The state key of a since_id: `since_id:<network>:<stream>`."""
    return f"since_id:{Network(network)}:{stream}"


def _newer(candidate: str, current: str | None) -> bool:
    if current is None:
        return True
    # Snowflakes (X, Mastodon) compare as numbers; any other cursor simply replaces the old.
    if candidate.isdecimal() and current.isdecimal():
        return int(candidate) > int(current)
    return candidate != current


class StateQueries(Database):
    """Key/value state."""

    def get_state(self, key: str, default: str | None = None) -> str | None:
        """A value from the state table, or `default`."""
        value = self._scalar("SELECT value FROM state WHERE key = ?", [key])
        return default if value is None else str(value)

    def set_state(self, key: str, value: str) -> None:
        """Store a value in the state table (committed at once)."""
        with self.transaction():
            self._put_state(key, value)

    def _put_state(self, key: str, value: str) -> None:
        # The caller holds the transaction.
        self._conn.execute(
            "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [key, value, iso(utcnow())],
        )

    def state_items(self, prefix: str = "") -> dict[str, str]:
        """Every state key starting with `prefix`, with its value."""
        rows = self._all(
            "SELECT key, value FROM state WHERE substr(key, 1, ?) = ? ORDER BY key",
            [len(prefix), prefix],
        )
        return {r["key"]: r["value"] for r in rows}

    def next_runs(self) -> dict[str, str]:
        """Planned job times the scheduler stored (`next_run:<job>`), by job name."""
        prefix = "next_run:"
        return {k.removeprefix(prefix): v for k, v in self.state_items(prefix).items()}

    def since_id(self, stream: str, network: str = Network.X) -> str | None:
        """The newest id seen on a stream (`mentions`, `source:alice`) of a network."""
        return self.get_state(since_id_key(stream, network))

    def set_since_id(self, stream: str, value: str, network: str = Network.X) -> None:
        """Advance a since_id; never moves a numeric one backwards."""
        with self.transaction():
            self._advance_since_id(stream, value, network)

    def _advance_since_id(self, stream: str, value: str, network: str) -> None:
        # The caller holds the transaction, so the compare and the write are one step.
        key = since_id_key(stream, network)
        if _newer(value, self.get_state(key)):
            self._put_state(key, value)

    def beat(self, moment: datetime | None = None) -> None:
        """Record the daemon's heartbeat."""
        self.set_state("heartbeat", iso(moment or utcnow()))

    def last_heartbeat(self) -> datetime | None:
        """When the daemon last recorded that it was alive."""
        value = self.get_state("heartbeat")
        return parse_iso(value) if value else None
