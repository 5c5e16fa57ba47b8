"""The real ``parac`` command with the test plugin loaded: ``python wfcli.py workflow run …``.

Crash tests need a CLI process whose tools leave a trace on disk; installing a package for that would change the
shared environment, so this wrapper adds the plugin to the host the CLI builds and then runs the CLI unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sidefx_plugin  # noqa: E402

from parac.server import host as host_module  # noqa: E402
from parac.server.cli import main  # noqa: E402

_for_workspace = host_module.Host.for_workspace.__func__


def _with_test_plugin(cls, start=None, **options):
    options["extra_plugins"] = [*options.get("extra_plugins", ()), ("wftest", sidefx_plugin)]
    return _for_workspace(cls, start, **options)


host_module.Host.for_workspace = classmethod(_with_test_plugin)

if __name__ == "__main__":
    main()
