"""The workspace database's connections: WAL from the first, also when many open a new database at once."""

from __future__ import annotations

import threading
from pathlib import Path

from parac.core.store import connect


def test_many_connections_opening_a_new_database_at_once_all_get_wal(tmp_path: Path):
    """The first runs of a fresh workspace each open the new database at the same moment: SQLite lets one turn it
    to WAL and refuses the others at once (not after busy_timeout); none of them may fail for that."""
    for attempt in range(20):
        path = tmp_path / f"parac-{attempt}.db"
        start = threading.Barrier(8)
        modes: list[str] = []
        failures: list[BaseException] = []

        def open_and_write() -> None:
            try:
                start.wait()
                conn = connect(path)
                conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
                conn.execute("INSERT INTO t VALUES (1)")
                modes.append(conn.execute("PRAGMA journal_mode").fetchone()[0])
                conn.close()
            except BaseException as exc:  # reported by the test, not lost in the thread
                failures.append(exc)

        threads = [threading.Thread(target=open_and_write) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures
        assert modes == ["wal"] * 8
