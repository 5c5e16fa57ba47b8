"""Workflow engines: where a run executes.

The embedded engine (:mod:`parac.core.workflows.engine`, SQLite, in-process) is the default. ``engine: {kind:
dbos}`` in ``parac.yaml`` (or ``PARAC_DATABASE_URL`` in the environment) moves runs to :mod:`.dbos`: DBOS Transact
over Postgres, whose ``parac worker`` processes on any host share a queue and recover each other's runs. This module
only reads the setting; importing it never imports DBOS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..diagnostics import ParacError
from ..specs import EngineSettings

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Overrides ``engine.database_url`` (and selects the dbos engine): a URL with a password stays out of files.
DATABASE_URL_ENV = "PARAC_DATABASE_URL"


@dataclass(frozen=True)
class EngineChoice:
    kind: str  # embedded or dbos
    database_url: str | None = None
    queue: str = "parac"


def engine_choice(workspace: Workspace) -> EngineChoice:
    """The workspace's engine: ``parac.yaml``'s ``engine:``, with ``PARAC_DATABASE_URL`` taking precedence."""
    return _choose(workspace.settings.engine)


def shared_database_url(root: str | Path) -> str | None:
    """The dbos engine's database when the workspace at ``root`` runs on it, else None. Read without loading the
    workspace (the audit trail opens it for every entry's first writer): what lives there is shared by every
    process of every host, the audit chain among it. A ``parac.yaml`` with a mistake elsewhere still names its
    engine: its ``engine:`` section is read on its own, so that a typo mid-edit does not send a dbos project's
    audit entries to a local chain."""
    from ..policy import project_settings

    settings = project_settings(Path(root))
    engine = settings.engine if settings is not None else _engine_section(Path(root))
    choice = _choose(engine)
    return choice.database_url if choice.kind == "dbos" else None


def _engine_section(root: Path) -> EngineSettings:
    """``parac.yaml``'s ``engine:`` alone, from a file that does not load as a whole (the default when it is
    absent, unreadable as YAML, or itself wrong: the workspace's own load reports those)."""
    from ..sources import load_source

    path = root / ".parac" / "parac.yaml"
    doc = load_source(path) if path.is_file() else None
    section = doc.data.get("engine") if doc is not None and doc.ok and isinstance(doc.data, dict) else None
    try:
        return EngineSettings.model_validate(section) if isinstance(section, dict) else EngineSettings()
    except ValueError:
        return EngineSettings()


def _choose(settings: EngineSettings) -> EngineChoice:
    env_url = os.environ.get(DATABASE_URL_ENV)
    if env_url:
        if not env_url.startswith(("postgresql://", "postgres://")):
            raise ParacError(f"{DATABASE_URL_ENV} must be a postgresql:// URL, not {redact_url(env_url)!r}")
        return EngineChoice("dbos", env_url, settings.queue)
    if settings.kind == "embedded":
        return EngineChoice("embedded")
    if not settings.database_url:
        raise ParacError(f"parac.yaml: engine.kind is dbos but no engine.database_url is set (nor {DATABASE_URL_ENV})")
    return EngineChoice("dbos", settings.database_url, settings.queue)


def dbos_runs(workspace: Workspace) -> Any:
    """The dbos engine's client (:class:`~parac.core.engines.dbos.DbosRuns`, to close after use) when the workspace
    runs on it, else None: the faces then enqueue runs for ``parac worker`` processes instead of running them. Every
    face makes its client here, since the client acts only on runs of the queue it is given, and that is the
    project's (``engine.queue``): a client made with another would not find the project's runs, and would find
    another project's."""
    choice = engine_choice(workspace)
    if choice.kind != "dbos":
        return None
    from .dbos import DbosRuns

    return DbosRuns(choice.database_url or "", choice.queue)


def create_schema(conn: Any, ddl: str) -> None:
    """Create parac's tables on a ``psycopg`` connection; processes starting together take turns (Postgres's
    ``CREATE TABLE IF NOT EXISTS`` races with itself), under a transaction-scoped advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('parac.schema'))")
        conn.execute(ddl)


def redact_url(url: str) -> str:
    """The URL as it may be shown: a password is replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
