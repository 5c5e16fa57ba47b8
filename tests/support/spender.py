"""A separate process that spends against a workspace's budgets, for the ledger's cross-process and crash tests.

    python spender.py ROOT calls N [--go FILE] [--model M]
                                                 N concurrent runs of agent ``spender`` with model ``slow`` (or M);
                                                 prints {"completed": .., "denied": ..}
    python spender.py ROOT acked N               N runs one after the other, printing each run id as its run
                                                 returns, then kills itself (SIGKILL: no exit handlers run)
    python spender.py ROOT hold USD              reserves USD against the budgets and kills itself mid-"call"
    python spender.py ROOT busy USD              settles 20 calls of $0.001 in quick succession (a busy process:
                                                 it claims headroom beyond each call), then reserves USD and kills
                                                 itself mid-"call"

Each model call of ``slow`` counts 100 prompt tokens; the workspace's ``prices:`` decide what it costs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import anyio

from parac.core.budgets import CallScope
from parac.core.costs import CostRow
from parac.core.runtime import Runtime
from parac.server.api import Completion, CompletionRequest, Usage
from parac.server.host import Host


class SlowEcho:
    """An offline model that takes a moment, so that many calls are in flight at once."""

    name = "slow"

    def accepts(self, model: str) -> bool:
        return model == "slow"

    def count_tokens(self, request: CompletionRequest) -> int:
        return 100

    async def complete(self, request: CompletionRequest, on_text=None) -> Completion:
        await anyio.sleep(0.01)
        return Completion(text="done", usage=Usage(100, 0))


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    root, mode, amount = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    host = Host(entry_points=False)
    host.open_workspace(root)

    async def calls(n: int, go: Path | None, model: str) -> dict[str, int]:
        statuses: list[str] = []
        with Runtime(host.workspace, hooks=host.hooks, providers=[SlowEcho()]) as runtime:
            if go is not None:
                (go.parent / f"ready-{os.getpid()}").touch()
                while not go.exists():
                    await anyio.sleep(0.01)

            async def one(i: int) -> None:
                result = await runtime.run("spender", f"task {i}", model=model)
                statuses.append(result.status)
                if result.status != "completed":
                    print(result.status, result.error, file=sys.stderr)

            async with anyio.create_task_group() as group:
                for i in range(n):
                    group.start_soon(one, i)
        return {"completed": statuses.count("completed"), "denied": statuses.count("denied")}

    async def acked(n: int) -> None:
        runtime = Runtime(host.workspace, hooks=host.hooks, providers=[SlowEcho()])
        for i in range(n):
            result = await runtime.run("spender", f"task {i}", model="slow")
            print(result.run_id, flush=True)
        die()

    if mode == "calls":
        options = dict(zip(sys.argv[4::2], sys.argv[5::2], strict=True))
        go = Path(options["--go"]) if "--go" in options else None
        print(json.dumps(anyio.run(calls, int(amount), go, options.get("--model", "slow"))))
    elif mode == "acked":
        anyio.run(acked, int(amount))
    elif mode == "hold":
        with Runtime(host.workspace, hooks=host.hooks) as runtime:
            runtime.client.accountant.reserve(CallScope(), float(amount))
            print("held", flush=True)
            time.sleep(0.1)
            die()
    elif mode == "busy":
        with Runtime(host.workspace, hooks=host.hooks) as runtime:
            accountant = runtime.client.accountant
            for i in range(20):
                call = accountant.reserve(CallScope(), 0.001)
                accountant.settle(call, CostRow(call_id=f"busy-{i}", provider="p", model="m", cost_usd=0.001))
            accountant.flush()
            accountant.reserve(CallScope(), float(amount))
            print("held", flush=True)
            time.sleep(0.1)
            die()


if __name__ == "__main__":
    main()
