"""The real ``parac`` command with the workflow tests' side-effect tools and an offline model ``slow`` whose every
call costs what ``prices:`` says of 100 prompt tokens (tests/support/spender.py's), for the dbos engine's worker
processes: ``python enginecli.py worker …``."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "workflows"))
sys.path.insert(0, str(HERE.parent.parent))

import wfcli  # noqa: E402  (adds the side-effect tools to every host)

from parac.server import host as host_module  # noqa: E402
from parac.server.api import hookimpl  # noqa: E402
from tests.support.spender import SlowEcho  # noqa: E402


class SlowPlugin:
    @hookimpl
    def parac_register_providers(self, register) -> None:
        register(SlowEcho())


_with_tools = host_module.Host.for_workspace.__func__


def _with_slow(cls, start=None, **options):
    options["extra_plugins"] = [*options.get("extra_plugins", ()), ("slow", SlowPlugin())]
    return _with_tools(cls, start, **options)


host_module.Host.for_workspace = classmethod(_with_slow)

if __name__ == "__main__":
    wfcli.main()
