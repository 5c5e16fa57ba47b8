"""One error root: every exception parac defines derives from it, so each face maps errors in one place."""

from __future__ import annotations

import importlib
import pkgutil

from parac.core.errors import ParacBaseError, ParacError, public_message

PACKAGES = (
    "parac.core", "parac.server", "parac.lsp", "parac.plugins", "parac.mcp_tools", "parac.resources", "parac.prompts"
)


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def test_every_parac_exception_derives_from_the_root():
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            if not module.name.endswith(".__main__"):  # those run a command when imported
                importlib.import_module(module.name)
    # parac.client is the SDK other programs import without the server (it imports nothing of parac's core): its
    # ApiError carries a server's problem+json, and is not one of the errors the faces map
    ours = {c for c in _subclasses(BaseException)
            if c.__module__.startswith("parac.") and not c.__module__.startswith("parac.client")
            and c.__name__[0] != "_"}
    assert len(ours) > 20  # the walk reached the modules
    assert sorted(f"{c.__module__}.{c.__qualname__}" for c in ours if not issubclass(c, ParacBaseError)) == []


def test_builtin_bases_are_kept_where_callers_catch_them():
    from parac.core.beneath import Escape
    from parac.core.confine import ConfinementError
    from parac.core.tokens import TokenError

    assert issubclass(ConfinementError, PermissionError) and issubclass(TokenError, ValueError)
    assert issubclass(Escape, OSError)
    assert ConfinementError("/etc/passwd", "outside the workspace").errno is None  # still an OSError without errno


def test_what_a_caller_may_be_shown():
    from parac.core.calls import CallDenied
    from parac.core.diagnostics import Diagnostic, Span
    from parac.core.ledger import LedgerError

    diagnostic = Diagnostic.at("a.yaml", Span(2, 3, 2, 7), "E1", "bad key")
    assert public_message(ParacError("agent broken", [diagnostic])) == "agent broken\n  a.yaml:2:3: error E1: bad key"
    assert public_message(CallDenied('policy "p" forbids it', rule="p")) == 'policy "p" forbids it'
    assert public_message(LedgerError("disk full under /srv/private")) is None
    assert public_message(KeyError("x")) is None
