"""Sandboxed Jinja2 for step tasks, tool arguments, sub-workflow inputs, outputs and ``when:`` conditions.

Workflow files come from the repository, and a repository is not always trusted, so templates render in Jinja2's
immutable sandbox: no attribute that starts with an underscore, no mutation of the values they are given, no I/O.
The names a template sees are ``inputs``, ``steps`` (each with ``output``, ``status``, ``error``, ``attempts``) and
``run`` (``id``, ``workflow``).

An agent answers in text; when that text is JSON, a condition such as ``steps.test.output.risk == 'high'`` should
still work, so agent outputs are wrapped in :class:`JsonText`, which renders as the text and looks keys up in the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..diagnostics import ParacError

_ENV = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
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


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@lru_cache(maxsize=1024)
def _compile_template(source: str):
    return _ENV.from_string(source)


@lru_cache(maxsize=1024)
def _compile_expression(source: str):
    return _ENV.compile_expression(source, undefined_to_none=True)


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
    """The step ids a template reads (``steps.x`` or ``steps['x']``); raises ParacError on a syntax error.

    ``expression=True`` for a ``when:``, which may also be a bare expression; other text without ``{{`` is plain.
    """
    if not is_template(source) and not expression:
        return set()
    text = source if is_template(source) else "{{ " + source + " }}"
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        where = f" at line {exc.lineno}" if "\n" in text.strip() else ""  # the line of a multi-line template
        raise ParacError(f"template syntax error{where}: {exc.message}") from exc
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if isinstance(target, nodes.Name) and target.name == "steps":
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add(node.arg.value)
    return found


def strings_in(value: Any) -> Iterable[str]:
    """Every string inside a JSON-like value (for static checks of templated arguments)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
