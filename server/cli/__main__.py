"""`python -m parac.server.cli ...`: the parac CLI run by a named interpreter.

Editor clients (the VS Code extension) start `parac lsp`, `parac validate` and `parac mcp serve` this way, through
the interpreter the user configured, so they work without the `parac` script on PATH.
"""

from parac.server.cli import main

main()
