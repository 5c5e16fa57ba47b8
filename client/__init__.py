"""parac's HTTP API from Python: `Client` (sync) and `AsyncClient` over httpx, one method per route of
`parac serve`'s `/api/v1`, Server-Sent Events as iterators, listings walked page by page, failures as `ApiError`.

    from parac.client import Client

    with Client("http://127.0.0.1:8765", token=TOKEN) as parac:
        run = parac.run_workflow("ship", {"topic": "the flag"}, dry_run="echo")
        for event in parac.run_events(run["run_id"]):
            ...

Importing it loads httpx and this package, nothing of the server (tests/http/test_client.py checks).
"""

from .auth import HmacAuth
from .clients import AsyncClient, Client
from .errors import ApiError
from .events import AsyncEventStream, Event, EventStream

__all__ = ["ApiError", "AsyncClient", "AsyncEventStream", "Client", "Event", "EventStream", "HmacAuth"]
