"""Fixtures for `parac serve` tests: the server in a real process (see `support.parac_serve`)."""

from __future__ import annotations

import pytest

from support.parac_serve import parac_serve


@pytest.fixture
def serve():
    """`with serve(project, args=(...), env={...}) as served:`: a running `parac serve` (served.api, served.mcp)."""
    return parac_serve
