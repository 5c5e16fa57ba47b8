"""Model providers: what the core asks of anything that answers a model id.

The runtime extends this protocol with the completion API; validation needs only :meth:`Provider.accepts`, which
must be cheap (it runs while people type).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Provider(Protocol):
    name: str

    def accepts(self, model: str) -> bool:
        """Whether this provider serves the model id."""
        ...
