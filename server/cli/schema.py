"""``parac schema KIND``: the JSON Schema of a spec, generated from its pydantic model."""

from __future__ import annotations

import click

from parac.core.specs import SPEC_MODELS, json_schema

from .common import echo_json


@click.command()
@click.argument("kind", type=click.Choice(sorted(SPEC_MODELS)))
def schema(kind: str) -> None:
    """Print the JSON Schema of KIND, for editors without parac's language server."""
    echo_json(json_schema(kind))

