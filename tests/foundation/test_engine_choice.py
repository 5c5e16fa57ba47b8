"""Which engine a workspace runs on is read before the workspace loads (the audit trail asks on every first write),
so a mistake elsewhere in parac.yaml must not move a dbos project's audit entries to a local chain."""

from __future__ import annotations

import pytest

from parac.core.engines import shared_database_url

URL = "postgresql://parac@127.0.0.1:5999/parac"


def write(tmp_path, text):
    (tmp_path / ".parac").mkdir(exist_ok=True)
    (tmp_path / ".parac" / "parac.yaml").write_text(text)
    return tmp_path


@pytest.fixture(autouse=True)
def no_env_url(monkeypatch):
    monkeypatch.delenv("PARAC_DATABASE_URL", raising=False)


def test_a_dbos_project_with_a_typo_elsewhere_keeps_its_database(tmp_path):
    root = write(tmp_path, f"engine: {{kind: dbos, database_url: '{URL}'}}\nname: [not, a, string]\nbudgetz: 3\n")
    assert shared_database_url(root) == URL


def test_a_whole_file_that_loads_names_its_database(tmp_path):
    assert shared_database_url(write(tmp_path, f"engine: {{kind: dbos, database_url: '{URL}'}}\n")) == URL


@pytest.mark.parametrize("text", ["", "engine: {kind: embedded}\nname: [x]\n", "engine: [\n", "engine: {kind: nope}\n"])
def test_embedded_otherwise(tmp_path, text):
    assert shared_database_url(write(tmp_path, text)) is None
