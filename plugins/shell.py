"""``shell_run``: run an allow-listed command as an argument vector, in a sandbox, with a time limit and an output cap.

The work is governance's :func:`parac.core.confine.run_command`: never a shell (``;``, ``|`` and ``$(...)`` are plain
characters), only programs the policies' ``shell.allow`` lists, a scrubbed environment, the sandbox of
:mod:`parac.core.sandbox` (refused where the policy wants one and none can start), the whole process group killed
at the time limit. The tool adds the working folder (confined to the workspace), the typed result, and the sandbox
it ran in as a note on the call, which the audit trail keeps.
"""

import dataclasses
from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

from parac.server.api import ToolContext, ToolError, hookimpl, run_command

from ._tooling import TypedTool, policies, refusals, resolve_path, workspace_root

MAX_STDIN_BYTES = 1_000_000


class ShellResult(TypedDict):
    argv: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool
    duration_s: float
    sandbox: str


def shell_run(
    command: Annotated[
        list[str], Field(min_length=1, description='The command as an argument vector, e.g. ["pytest", "-q", "tests"].')
    ],
    ctx: ToolContext,
    cwd: Annotated[str, Field(description="Folder to run in, relative to the workspace root.")] = ".",
    stdin: Annotated[str | None, Field(description="Text given to the command's standard input.")] = None,
    timeout_s: Annotated[
        float | None, Field(gt=0, description="A shorter time limit than the policy's (never a longer one).")
    ] = None,
) -> ShellResult:
    """Run an allow-listed command (no shell) and return its exit code, stdout and stderr. A command that fails
    is a result with its exit code, not an error; one not on the allow-list is refused."""
    policy = policies(ctx).command_policy()
    if timeout_s is not None:
        policy = dataclasses.replace(policy, timeout_s=min(timeout_s, policy.timeout_s))
    folder = resolve_path(ctx, cwd)
    if not folder.is_dir():
        raise ToolError(f"{cwd}: not a folder" if folder.exists() else f"{cwd}: no such folder")
    data = stdin.encode("utf-8") if stdin is not None else None
    if data is not None and len(data) > MAX_STDIN_BYTES:
        raise ToolError(f"stdin is {len(data)} bytes, more than the limit of {MAX_STDIN_BYTES}")
    with refusals():
        result = run_command(command, policy, cwd=folder, root=workspace_root(ctx), stdin=data, cancel=ctx.cancelled)
    ctx.note("sandbox", result.sandbox)
    return ShellResult(**result.to_dict())


@hookimpl
def parac_register_tools(register) -> None:
    # A command may do anything the sandbox lets it; a policy may give the sandbox the network.
    register(TypedTool(shell_run, "Run a command", destructive=True, idempotent=False, open_world=True))
