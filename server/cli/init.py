"""``parac init``: create a workspace from a template shipped with parac."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import click

from parac.core.diagnostics import ParacError
from parac.core.workspace import PARAC_DIR

TEMPLATES = ("default", "empty", "support", "content", "devops")
#: What to try first in each template that ships a workflow: an offline run with its scripted model.
TRY = {
    "support": "parac workflow run support -i ticket='I cannot sign in' --dry-run scripted:.parac/scripts/dry-run.yaml",
    "content": "parac workflow run content -i topic=bees --dry-run scripted:.parac/scripts/dry-run.yaml --yes",
    "devops": "parac workflow run deploy -i service=api --dry-run scripted:.parac/scripts/dry-run.yaml --yes",
}


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--template", "-t", type=click.Choice(TEMPLATES), default="default", show_default=True)
@click.option("--force", is_flag=True, help="Write into an existing .parac/, replacing template files.")
def init(directory: Path, template: str, force: bool) -> None:
    """Create DIRECTORY/.parac/ from a template (never asks questions)."""
    target = directory.resolve() / PARAC_DIR
    if target.exists() and not force:
        raise ParacError(f"{target} already exists (use --force to write the template into it)")
    with as_file(files("parac.core") / "templates" / template) as source:
        try:
            written = _copy_tree(Path(source), target.parent)
        except OSError as exc:  # a folder that cannot be made or written: say which, not a traceback
            raise ParacError(f"cannot create {target}: {exc.strerror or exc} ({exc.filename or target})") from None
    click.echo(f"Created {target} from the {template} template ({written} files).")
    click.echo("Next: `parac validate`, `parac agents list`" + (f", `{TRY[template]}`." if template in TRY else "."))


def _copy_tree(source: Path, destination: Path) -> int:
    count = 0
    for path in sorted(source.rglob("*")):
        if path.is_dir() or path.name == "__pycache__" or path.suffix == ".pyc":
            continue
        out = destination / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(path.read_bytes())
        count += 1
    return count
