"""Offline model providers: ``echo``, ``fixed:TEXT``, ``random`` and ``scripted:PATH``.

They answer without a network, for demos, dry runs and deterministic tests.
"""

from __future__ import annotations

from parac.server.api import hookimpl

OFFLINE = ("echo", "fixed", "random", "scripted")


class OfflineProvider:
    def __init__(self, name: str) -> None:
        self.name = name

    def accepts(self, model: str) -> bool:
        if self.name in ("echo", "random"):
            return model == self.name
        return model.startswith(f"{self.name}:") and len(model) > len(self.name) + 1


@hookimpl
def parac_register_providers(register) -> None:
    for name in OFFLINE:
        register(OfflineProvider(name))
