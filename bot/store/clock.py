"""The one timestamp format of the store: aware UTC, stored as ISO 8601 text (sorts as text)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC now; every timestamp in the store is UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 text in UTC, the one timestamp format stored (sorts as text)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    """Inverse of `iso`."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
