"""The hub's storage: one sqlite3 file with messages, proposals and votes.

Each thread gets its own connection (WAL, so readers run beside the one writer); writes go through
``Store.write``, which holds a process-wide lock and one transaction, so a check-then-write (a
duplicate message, a voter's earlier vote) cannot interleave with another request's.
Voting power is kept as exact integers per strategy (decimal strings), and as a float for ordering.
"""

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    mci INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ipfs TEXT NOT NULL,
    address TEXT NOT NULL,
    version TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    space TEXT NOT NULL,
    type TEXT NOT NULL,
    sig TEXT NOT NULL UNIQUE,
    receipt TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_space_timestamp ON messages (space, timestamp);
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY,
    ipfs TEXT NOT NULL,
    author TEXT NOT NULL,
    created INTEGER NOT NULL,
    space TEXT NOT NULL,
    network TEXT NOT NULL,
    symbol TEXT NOT NULL,
    type TEXT NOT NULL,
    strategies TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    discussion TEXT NOT NULL,
    choices TEXT NOT NULL,
    labels TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    quorum REAL NOT NULL,
    quorum_type TEXT NOT NULL,
    privacy TEXT NOT NULL,
    snapshot INTEGER NOT NULL,
    app TEXT NOT NULL,
    plugins TEXT NOT NULL,
    scores TEXT NOT NULL DEFAULT '[]',
    scores_by_strategy TEXT NOT NULL DEFAULT '[]',
    scores_state TEXT NOT NULL DEFAULT 'pending',
    scores_total REAL NOT NULL DEFAULT 0,
    scores_updated INTEGER NOT NULL DEFAULT 0,
    votes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS proposals_space_created ON proposals (space, created);
CREATE TABLE IF NOT EXISTS votes (
    id TEXT PRIMARY KEY,
    ipfs TEXT NOT NULL,
    voter TEXT NOT NULL,
    created INTEGER NOT NULL,
    space TEXT NOT NULL,
    proposal TEXT NOT NULL,
    choice TEXT NOT NULL,
    metadata TEXT NOT NULL,
    reason TEXT NOT NULL,
    app TEXT NOT NULL,
    vp REAL NOT NULL,
    vp_raw TEXT NOT NULL,
    vp_state TEXT NOT NULL,
    UNIQUE (proposal, voter)
);
CREATE INDEX IF NOT EXISTS votes_proposal_created ON votes (proposal, created, id);
CREATE INDEX IF NOT EXISTS votes_created ON votes (created, id);
CREATE INDEX IF NOT EXISTS votes_voter ON votes (voter);
"""


class Store:
    """The hub's sqlite3 database at ``path`` (created with its tables if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._write_lock:
            self._connection().executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    def read(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query, as dicts."""
        return [dict(row) for row in self._connection().execute(sql, params).fetchall()]

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the process-wide write lock; rolled back if the block raises."""
        with self._write_lock:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")


def dumps(value: Any) -> str:
    """JSON as the hub stores it (compact, non-ASCII kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
