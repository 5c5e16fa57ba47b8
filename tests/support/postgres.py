"""A throwaway Postgres cluster for tests: Debian's server binaries, a temporary data directory, 127.0.0.1 only.

The DBOS engine's tests need a real Postgres they can start, restart and throw away, with nothing left running when
they end. `PostgresCluster` runs `initdb` and `pg_ctl` from the installed `postgresql` package (the bootstrap installs
it) as the `postgres` user when the tests run as root (initdb refuses root), listens on a free port of 127.0.0.1 and
a socket directory inside its own temporary directory, and is stopped by its PID whatever happened.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def server_bindir() -> Path:
    """The newest installed Postgres server's bin directory (Debian keeps them off PATH, one per major version)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("no Postgres server binaries: run .ci/bootstrap (it installs the apt package postgresql)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """A cluster in a temporary directory. `start()`, `stop()`, `restart()`, `url(dbname)`, `create_database(name)`;
    use as a context manager to have it stopped and removed at the end."""

    def __init__(self, *, fsync: bool = True) -> None:
        self.bindir = server_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="parac-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.port = free_port()
        self.user = "parac"
        self.fsync = fsync
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            self.socket_dir.mkdir()
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chown(self.socket_dir, entry.pw_uid, entry.pw_gid)
        else:
            self.socket_dir.mkdir()
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "--no-sync", "-E", "UTF8")

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{program} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir} -c fsync={'on' if self.fsync else 'off'}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given: a file copy, faster than setting one up again)."""
        copy = ["-T", template] if template else []
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, *copy, name)
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop("immediate")
        except Exception:
            pid = self.pid()
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                    time.sleep(0.2)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresCluster":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
