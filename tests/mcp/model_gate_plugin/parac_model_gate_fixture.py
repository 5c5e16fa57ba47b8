"""A third-party policy over model calls, for tests only: refuses the model calls that the tools named in
``PARAC_TEST_REFUSE_MODEL_FOR`` (comma-separated) ask for (a tool's ``ctx.sample``), through the public
``parac_before_llm_call`` hook, as any plugin that governs model calls would."""

from __future__ import annotations

import os

from parac.server.api import CallDenied, LLMCall, hookimpl


@hookimpl
def parac_before_llm_call(call: LLMCall) -> None:
    refused = {name.strip() for name in os.environ.get("PARAC_TEST_REFUSE_MODEL_FOR", "").split(",") if name.strip()}
    if call.tool in refused:
        raise CallDenied(f'tool "{call.tool}" may not ask a model (model gate)', rule="model-gate")
