"""The dbos engine's database connections in a process that only reads and enqueues: one small pool per database.

``parac serve`` and ``parac mcp serve`` answer each run, status or approval request on the dbos engine with a few
statements; a connection opened per request costs a TCP round trip, authentication and a Postgres backend's start,
and three of them per call were what a request cost before. Each database URL gets one SQLAlchemy engine here
(SQLAlchemy's queue pool: DBOS depends on SQLAlchemy already, and ``psycopg_pool`` is not installed), shared by
the :class:`~parac.core.engines.dbos.DbosRuns` client and parac's own reads. A connection is pinged when taken, so
a restarted Postgres costs a reconnect, not an error.

The pools are kept per process by URL, not per workspace: workspaces that name the same database share its
connections, and a served workspace's requests reuse them for as long as the process lives.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

#: Connections a pool keeps open, and how many more it opens under a burst (then closes again).
POOL_SIZE = 4
OVERFLOW = 8

_engines: dict[str, sa.Engine] = {}
_lock = threading.Lock()


def engine(url: str) -> sa.Engine:
    """The process's pool for ``url`` (a ``postgresql://`` URL), made at its first use."""
    with _lock:
        found = _engines.get(url)
        if found is None:
            found = _engines[url] = sa.create_engine(
                sa.make_url(url).set(drivername="postgresql+psycopg"), pool_size=POOL_SIZE, max_overflow=OVERFLOW,
                pool_pre_ping=True, pool_timeout=30, connect_args={"connect_timeout": 5})
        return found


@contextlib.contextmanager
def connection(url: str) -> Iterator[Any]:
    """A pooled ``psycopg`` connection in a transaction, committed when the block ends (rolled back on error)."""
    with engine(url).begin() as conn:
        yield conn.connection.driver_connection


def dispose(url: str) -> None:
    """Close the pool of a database this process is done with (a test's, dropped after it)."""
    with _lock:
        found = _engines.pop(url, None)
    if found is not None:
        found.dispose()
