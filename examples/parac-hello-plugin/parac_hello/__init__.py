"""An example parac plugin: one tool, one agent, one skill."""

from __future__ import annotations

from pathlib import Path

from parac.server.api import AgentSpec, hookimpl


def shout(text: str, times: int = 1) -> str:
    """Upper-case TEXT and repeat it TIMES times."""
    return " ".join([text.upper()] * times)


@hookimpl
def parac_register_tools(register) -> None:
    register(shout)


@hookimpl
def parac_register_agents(register) -> None:
    register(
        AgentSpec(
            name="greeter",
            description="Greets people loudly",
            model="echo",
            system_prompt="Greet the user.",
            tools=["shout"],
            skills=["greeting"],
        )
    )


@hookimpl
def parac_register_skills(register) -> None:
    register(Path(__file__).parent / "skills" / "greeting")
