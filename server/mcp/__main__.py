"""`python -m parac.server.mcp serve ...`: the command that client configurations spawn.

It names the interpreter by absolute path, so it works under a host's minimal PATH, without the `parac` script.
"""

from parac.server.cli.common import accept_workspace
from parac.server.cli.mcp import mcp

accept_workspace(mcp)  # what `parac`'s group does for it
mcp(prog_name="python -m parac.server.mcp")
