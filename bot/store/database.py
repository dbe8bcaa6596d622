"""Opening the database file, migrating it, and real transactions.

The connection runs in autocommit mode (`isolation_level=None`) so Python's sqlite3 never
opens or commits a transaction on its own; `transaction()` issues BEGIN IMMEDIATE and COMMIT
or ROLLBACK itself. IMMEDIATE takes the write lock at the start, so a read-then-write inside
(a count before an insert, a compare-and-set) cannot be interleaved by another process.
sqlite-utils (4.x) turns its own writes into savepoints when a transaction is open, so it never
commits ours early. The daemon's jobs run in scheduler threads, so the one connection is
shared behind a re-entrant lock, held for the whole of a transaction.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.errors import StoreError
from bot.store.schema import SCHEMA_VERSION, apply_migration, stored_version

SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_is_sqlite(path: Path) -> None:
    if not path.exists():
        return
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a tweetbot database")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read database ({exc.strerror})") from None
    # An empty file is what sqlite3 itself creates; anything else must carry the magic header.
    if head and head != SQLITE_MAGIC:
        raise StoreError(f"{path}: not a SQLite database (left untouched; move it away or fix it)")


class Database:
    """One SQLite file: connection, lock, migrations, transactions and small read helpers."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._savepoints = itertools.count()
        _check_is_sqlite(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path, check_same_thread=False, timeout=30, isolation_level=None
            )
            conn.row_factory = sqlite3.Row
            self._conn = conn
            self._check_version()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: corrupt or unreadable database ({exc})") from None

    def _check_version(self) -> None:
        version = stored_version(self._conn)
        if version > SCHEMA_VERSION:
            self._conn.close()
            raise StoreError(
                f"{self.path}: written by a newer tweetbot (schema v{version}; this version "
                f"knows v{SCHEMA_VERSION}); upgrade tweetbot or use another data_dir"
            )

    def migrate(self) -> int:
        """Apply the migrations this database lacks, each in its own transaction."""
        with self._lock:
            # Without a transaction first: an up-to-date database (the usual case, and a
            # read-only one) needs no write lock to be opened.
            if stored_version(self._conn) >= SCHEMA_VERSION:
                return SCHEMA_VERSION
        while True:
            with self.transaction() as conn:
                # Read inside the write lock: two processes opening a fresh file at once
                # must not both run the same migration.
                current = stored_version(conn)
                if current >= SCHEMA_VERSION:
                    return current
                apply_migration(conn, current + 1)

    @property
    def schema_version(self) -> int:
        """The version of the schema this database is at."""
        with self._lock:
            return stored_version(self._conn)

    @property
    def conn(self) -> sqlite3.Connection:
        """The raw connection, for tests and tools that inspect the file; holds no lock."""
        return self._conn

    def close(self) -> None:
        """Checkpoint the WAL and close the connection."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: everything inside is written together or not at all.

        Any exception (also KeyboardInterrupt, or one raised by an iterator being consumed
        inside) rolls back. Nested use becomes a savepoint of the outer transaction.
        """
        with self._lock:
            conn = self._conn
            if conn.in_transaction:
                name = f"tweetbot_{next(self._savepoints)}"
                conn.execute(f"SAVEPOINT {name}")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                        conn.execute(f"RELEASE SAVEPOINT {name}")
                    raise
                conn.execute(f"RELEASE SAVEPOINT {name}")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed state."""
        with self._lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            self._conn.execute("BEGIN DEFERRED")
            try:
                yield self._conn
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, list(params)).fetchall()

    def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, list(params)).fetchone()
            return row

    def _scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = self._one(sql, params)
        return None if row is None else row[0]
