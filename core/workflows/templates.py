"""Sandboxed Jinja2 for step tasks, tool arguments, sub-workflow inputs, outputs and ``when:`` conditions.

Workflow files come from the repository, and a repository is not always trusted, so templates render in Jinja2's
immutable sandbox: no attribute that starts with an underscore, no mutation of the values they are given, no I/O.
The names a template sees are ``inputs``, ``steps`` (each with ``output``, ``status``, ``error``, ``attempts``) and
``run`` (``id``, ``workflow``).

An agent answers in text; when that text is JSON, a condition such as ``steps.test.output.risk == 'high'`` should
still work, so agent outputs are wrapped in :class:`JsonText`, which renders as the text and looks keys up in the JSON.

Jinja2 is imported on the first template that needs it, not with this module: checking a workspace whose workflows
hold no template, or that has no workflow, does not pay for loading it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from ..diagnostics import ParacError

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

_FALSE_WORDS = frozenset({"", "false", "no", "off", "0", "none", "null", "undefined"})


class JsonText(str):
    """Text that also answers ``.key`` and ``["key"]`` from the JSON object it holds, if it holds one."""

    __slots__ = ()

    @property
    def _parsed(self) -> Any:
        return _parse_json(str(self))

    def __getattr__(self, name: str) -> Any:
        parsed = self._parsed
        if isinstance(parsed, dict) and name in parsed:
            return parsed[name]
        raise AttributeError(name)

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            parsed = self._parsed
            if isinstance(parsed, dict):
                return parsed[key]
            raise KeyError(key)
        return str.__getitem__(self, key)


@lru_cache(maxsize=256)
def _parse_json(text: str) -> Any:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


_BLOCK = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.S)
#: ``steps.X``, ``steps.get('X')`` (and ``inputs.`` likewise), then maybe ``.attr``. A method call is no name:
#: ``steps.items()`` reads no step called ``items`` (the possessive ``*+`` keeps a name from being cut short to
#: slip past the ``(`` check).
_NAME_READ = re.compile(
    r"\b(?P<kind>steps|inputs)"
    r"(?:\.get\(\s*(?P<quote>['\"])(?P<quoted>[A-Za-z0-9_][A-Za-z0-9_-]*)(?P=quote)\s*\)"
    r"|\.(?P<name>[A-Za-z0-9_][A-Za-z0-9_-]*+)(?!\s*\())"
    r"(?:\.(?P<attribute>[A-Za-z_][A-Za-z0-9_]*+)(?!\s*\())?"
)
STEP_FIELDS = ("output", "status", "error", "attempts")  # what ``steps.X`` holds (the scheduler's template context)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@cache
def _env() -> ImmutableSandboxedEnvironment:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=1024)
def _compile_template(source: str):
    return _env().from_string(source)


@lru_cache(maxsize=1024)
def _compile_expression(source: str):
    return _env().compile_expression(source, undefined_to_none=True)


def _single_expression(source: str) -> str | None:
    """``"{{ expr }}"`` alone → ``"expr"``, so a tool argument keeps the value's type instead of its text."""
    text = source.strip()
    if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1 and "{%" not in text:
        return text[2:-2].strip()
    return None


def render(source: str, context: Mapping[str, Any], *, where: str) -> str:
    """Render a text template; errors name ``where`` (e.g. ``step 'design' task``)."""
    if not is_template(source):
        return source
    try:
        return _compile_template(source).render(context)
    except Exception as exc:  # Jinja raises many types; all of them mean "this template cannot render"
        raise ParacError(f"{where}: template error: {exc}") from exc


def render_value(value: Any, context: Mapping[str, Any], *, where: str) -> Any:
    """Render every string inside a JSON-like value; ``"{{ x }}"`` alone yields x itself (dict, number, …)."""
    if isinstance(value, str):
        expression = _single_expression(value)
        if expression is not None:
            try:
                return _plain(_compile_expression(expression)(**context))
            except Exception as exc:
                raise ParacError(f"{where}: template error: {exc}") from exc
        return render(value, context, where=where)
    if isinstance(value, Mapping):
        return {key: render_value(item, context, where=f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context, where=f"{where}[{index}]") for index, item in enumerate(value)]
    return value


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, JsonText) else value


def condition(source: str, context: Mapping[str, Any], *, where: str) -> bool:
    """Evaluate a ``when:``: a bare expression, or a template whose text reads as true ("true", "yes", "1", …)."""
    if is_template(source):
        expression = _single_expression(source)
        if expression is None:
            return render(source, context, where=where).strip().lower() not in _FALSE_WORDS
        source = expression
    try:
        value = _compile_expression(source)(**context)
    except Exception as exc:
        raise ParacError(f"{where}: condition error: {exc}") from exc
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    return bool(value)


def referenced_steps(source: str, *, expression: bool = False) -> set[str]:
    """The step ids a template reads (``steps.x``, ``steps['x']`` or ``steps.get('x')``); raises ParacError on a
    syntax error.

    ``expression=True`` for a ``when:``, which may also be a bare expression; other text without ``{{`` is plain.
    """
    if not is_template(source) and not expression:
        return set()
    from jinja2 import TemplateSyntaxError, nodes

    text = source if is_template(source) else "{{ " + source + " }}"
    try:
        tree = _env().parse(text)
    except TemplateSyntaxError as exc:
        where = f" at line {exc.lineno}" if "\n" in text.strip() else ""  # the line of a multi-line template
        raise ParacError(f"template syntax error{where}: {exc.message}") from exc
    found: set[str] = set()
    methods = set()  # ``steps.get(...)``, ``steps.items()``: calls on the mapping, not steps named get or items
    for call in tree.find_all(nodes.Call):
        method = call.node
        if isinstance(method, nodes.Getattr) and isinstance(method.node, nodes.Name) and method.node.name == "steps":
            methods.add(id(method))
            first = call.args[0] if call.args else None
            if method.attr == "get" and isinstance(first, nodes.Const) and isinstance(first.value, str):
                found.add(first.value)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if isinstance(target, nodes.Name) and target.name == "steps" and id(node) not in methods:
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add(node.arg.value)
    return found


def syntax_error(text: str, *, expression: bool) -> str | None:
    """Jinja2's complaint about a template that does not parse (a run refuses it), or None.

    ``expression`` is for a ``when:``, which may be a bare expression. Only text that holds a template (or an
    expression) loads Jinja2.
    """
    if not expression and not is_template(text):
        return None
    try:
        referenced_steps(text, expression=expression)
    except ParacError as exc:
        return str(exc)
    return None


def names_read(text: str) -> Iterable[tuple[str, str, str | None, str, tuple[int, int]]]:
    """("steps" or "inputs", name, the attribute read after it or None, the reference as written, where the name
    stands in it) for each ``steps.X.attr`` / ``steps.get('X')`` / ``inputs.Y`` inside the template's ``{{ }}`` and
    ``{% %}``."""
    for block in blocks(text):
        for ref in _NAME_READ.finditer(block):
            group = "name" if ref.group("name") is not None else "quoted"
            within = (ref.start(group) - ref.start(), ref.end(group) - ref.start())
            yield ref.group("kind"), ref.group(group), ref.group("attribute"), ref.group(0), within


def blocks(text: str) -> Iterable[str]:
    """The insides of a template's ``{{ }}`` and ``{% %}``: where names are read (the rest is literal text)."""
    for block in _BLOCK.finditer(text):
        yield block.group(1) or block.group(2) or ""


def strings_in(value: Any, loc: tuple[str | int, ...] = ()) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """(key path under ``loc``, text) for every string inside a JSON-like value (templated arguments, inputs)."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from strings_in(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings_in(item, (*loc, index))
