"""Fixtures: a workspace on disk and `parac lsp` started as a subprocess under pytest-lsp, initialized with the
client capabilities of VS Code and of Neovim in turn."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsp_support import PARAC, SERVER_ENV, make_workspace, start
from pytest_lsp import ClientServerConfig, LanguageClient


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "project")


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[PARAC, "lsp"], server_env=SERVER_ENV), params=["vscode", "neovim"]
)
async def client(lsp_client: LanguageClient, workspace: Path, request):
    await start(lsp_client, workspace, request.param)
    yield
    await lsp_client.shutdown_session()
