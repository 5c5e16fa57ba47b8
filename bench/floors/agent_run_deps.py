"""The least any ``parac agents run`` built on parac's fixed dependencies pays before its own work.

It starts a click command, reads an agent spec with PyYAML's C loader, validates it with a pydantic model, opens
a SQLite database and runs one coroutine on an anyio event loop: each a dependency the issue fixes, each used
once, nothing of parac's. ``bench/runtime.py`` times it beside ``parac --help`` and ``parac agents run``, so
the share of the cold start that is the dependencies' own is measured rather than argued.
"""

import sqlite3

import anyio
import click
import yaml
from pydantic import BaseModel


class Agent(BaseModel):
    description: str = ""
    tools: list[str] = []


@click.command()
@click.argument("spec", type=click.Path(exists=True))
def run(spec: str) -> None:
    with open(spec, encoding="utf-8") as handle:
        agent = Agent.model_validate(yaml.load(handle, Loader=yaml.CSafeLoader))
    sqlite3.connect(":memory:").execute("CREATE TABLE calls (cost REAL)")

    async def answer() -> str:
        return agent.description

    click.echo(anyio.run(answer))


run()
