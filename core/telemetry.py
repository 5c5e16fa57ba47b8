"""Traces with OpenTelemetry's GenAI conventions, and the fields a log line names (run, step, trace).

parac opens a span for each agent run (``invoke_agent {agent}``), model call (``chat {model}``), tool call
(``execute_tool {tool}``), workflow run (``invoke_workflow {workflow}``) and workflow step (``step {id}``). They
nest by ``contextvars``: under the MCP SDK's span of the request that started them, across anyio's worker threads
and the workflow engine's tasks (both copy the context), into threads and event loops of parac's own
(:func:`carried`, :func:`resumed`), into external MCP servers (the SDK's client puts
``traceparent`` in each request's ``_meta``) and across HTTP (:func:`inject`, :func:`extracted`). Approvals, budget
thresholds and refusals are events and attributes of the span they happen in (:func:`event`, and ``CallDenied``'s
rule on the refused call's span).

Off by default, and then free: a tool call, model call or workflow step looks at one attribute of :data:`tracing`
and, off, goes its plain way, without entering a context manager or building attributes (the call sites branch
to :func:`tool_call`, :func:`chat` and :func:`step` only when on); the less frequent helpers (an agent or
workflow run, an event) hand back a shared no-op. The OpenTelemetry SDK and the exporter are imported by
:func:`configure`, only when the standard ``OTEL_TRACES_EXPORTER`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables
or ``telemetry:`` in ``parac.yaml`` ask for traces. Prompts, answers, tool arguments and results are recorded only with
``telemetry: {capture_content: true}``, masked first by the process's redaction (:func:`parac.core.redact.redact`).

The tracer provider is the process's, as the root logger is: OpenTelemetry has one global provider (the MCP SDK's
spans go to it too), and one exporter serves every workspace the process opens. What is a workspace's own
(``capture_content``) is read from its settings at each call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from .calls import CallContext, ToolCall
    from .specs import TelemetrySettings
    from .workspace import Workspace

log = logging.getLogger(__name__)

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
MAX_CONTENT_CHARS = 16_000
"""Captured content longer than this is cut: a span is not a transcript store."""

_EVENT_KEYS = frozenset({
    "run_id", "workflow", "step", "agent", "actor", "by", "status", "outcome", "attempt", "delay_s", "iteration",
    "max_iterations", "phase", "to", "strategy", "kind", "limit", "scope", "percent", "spent_usd", "limit_usd",
    "cost_usd", "approved", "error", "reason", "depth",
})
"""What of an event's data goes on a span event: names, states and figures. An allow-list, since events carry a
user's content too (inputs, outputs, gate messages, a pattern's text): content is opt-in, on the call spans."""


class _Tracing:
    """The process's tracing: a tracer once :func:`configure` turned it on; whether log lines want run fields.

    ``on`` and ``scoped`` are what hot paths read, plain booleans kept in step with the rest: ``on`` when spans are
    recorded, ``scoped`` when a run or step opens a scope of its own (a span, or the log fields of JSON logs)."""

    tracer: Any = None
    provider: Any = None
    log_fields: bool = False
    on: bool = False
    scoped: bool = False

    def update(self) -> None:
        """Bring ``on`` and ``scoped`` in step after ``tracer`` or ``log_fields`` changed."""
        self.on = self.tracer is not None
        self.scoped = self.on or self.log_fields


tracing = _Tracing()
_NOOP: AbstractContextManager[None] = contextlib.nullcontext()

LOG_FIELDS: ContextVar[Mapping[str, str] | None] = ContextVar("parac_log_fields", default=None)
"""Run id, step, request id of what is being done in this context, for JSON log lines (see :func:`fields`)."""


# -- turning it on -------------------------------------------------------------------------------------------------
def wanted(settings: TelemetrySettings | None = None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The exporter asked for (``otlp``, ``console``), or None. The standard variables win over ``parac.yaml``."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter in ("none", "console", "otlp"):
        return None if exporter == "none" else exporter
    if settings is not None and settings.enabled is not None:
        return "otlp" if settings.enabled else None
    if any(environ.get(name) for name in ENDPOINT_VARS) or (settings is not None and settings.endpoint):
        return "otlp"
    return None


def configure(settings: TelemetrySettings | None = None, environ: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on for this process if the environment or ``settings`` ask for it; return whether it is on.

    Called by each face at start (and again with ``parac.yaml``'s settings once a workspace is loaded); the first
    call that turns it on wins. A missing ``otlp`` extra is logged with the fix, and tracing stays off: a server
    does not refuse to start over its observability.
    """
    if tracing.tracer is not None:
        return True
    kind = wanted(settings, environ)
    if kind is None:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = _exporter(kind, settings, environ)
    except ImportError as exc:
        log.error("traces are asked for, but %s is not installed: pip install 'parac[otlp]'", exc.name)
        return False
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    own = {} if named else {"service.name": (settings.service_name if settings else None) or "parac"}
    provider = TracerProvider(resource=Resource.create(own))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracing.provider = provider
    tracing.tracer = provider.get_tracer("parac")
    tracing.update()
    return True


def settings_of(root: Path | None) -> TelemetrySettings | None:
    """``telemetry:`` of a workspace's ``parac.yaml``, read alone, before the workspace loads (a server that traces
    from its first request); None when there is none. A wrong section raises :class:`ParacError` at its
    FILE:LINE:COL. Without a top-level ``telemetry:`` key neither YAML nor pydantic is imported."""
    if root is None:
        return None
    from .roots import PARAC_DIR, SETTINGS_FILE

    path = root / PARAC_DIR / SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # the workspace reports an unreadable parac.yaml when it loads
    if not re.search(r"^telemetry\s*:", text, re.MULTILINE):
        return None
    from pydantic import ValidationError

    from .diagnostics import ParacError
    from .sources import load_source
    from .specs import TelemetrySettings

    doc = load_source(path, text)
    section = doc.data.get("telemetry") if isinstance(doc.data, dict) else None
    try:
        return TelemetrySettings.model_validate(section or {})
    except ValidationError as error:
        first = error.errors()[0]
        loc = ("telemetry", *first["loc"])
        span = doc.span(loc)
        raise ParacError(f"{path}:{span.line}:{span.column}: {'.'.join(map(str, loc))}: {first['msg']}") from None


def _exporter(kind: str, settings: TelemetrySettings | None, environ: Mapping[str, str]) -> Any:
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout carries the MCP stdio protocol
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = settings.endpoint if settings is not None else None
    if endpoint and not any(environ.get(name) for name in ENDPOINT_VARS):
        return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    return OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, headers, timeout itself


def enabled() -> bool:
    return tracing.tracer is not None


def want_log_fields() -> None:
    """JSON logs name the run and step of each line: keep them in :data:`LOG_FIELDS` even when not tracing."""
    tracing.log_fields = True
    tracing.update()


def log_fields_wanted() -> bool:
    return tracing.log_fields


def flush(timeout_s: float = 5.0) -> None:
    """Export the spans that ended so far (a server's shutdown, a test); the SDK also flushes at exit."""
    if tracing.provider is not None:
        tracing.provider.force_flush(int(timeout_s * 1000))


# -- spans of parac's work -----------------------------------------------------------------------------------------
def agent_run(result: Any, context: CallContext) -> AbstractContextManager[Any]:
    """``invoke_agent {agent}`` around one run; ``result`` (an ``AgentResult``) is read when the span ends."""
    if tracing.tracer is None:
        return fields(run_id=context.run_id, step=context.step) if tracing.log_fields else _NOOP
    attributes = _present({
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": result.agent,
        "gen_ai.request.model": result.model, "gen_ai.conversation.id": context.run_id,
        **_on_behalf(context),
    })
    return _span(f"invoke_agent {result.agent}", attributes, context, finish=lambda span: _agent_end(span, result))


def _agent_end(span: Any, result: Any) -> None:
    span.set_attributes({
        "gen_ai.response.model": result.model, "parac.run.status": result.status,
        "gen_ai.usage.input_tokens": result.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": result.usage.completion_tokens,
        "parac.cost_usd": float(result.cost_usd), "parac.iterations": result.iterations,
        "parac.tool_calls": result.tool_calls,
    })


async def chat(
    call: Awaitable[Any], model: str, provider: str, context: CallContext, messages: list[dict[str, Any]],
    *, capture: bool,
) -> Any:
    """Await one model call (an unstarted ``ModelClient`` call, retries inside it) within its ``chat {model}``
    span, then record usage, cost and the model that answered; with ``capture``, the prompt and the answer,
    redacted. Only when :data:`tracing` is on: off, the caller awaits ``call`` itself."""
    from opentelemetry.trace import SpanKind

    attributes = _present({
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
        **_on_behalf(context),
    })
    with _span(f"chat {model}", attributes, None, kind=SpanKind.CLIENT) as span:
        answer = await call
        completion = answer.completion
        span.set_attributes({
            "gen_ai.response.model": completion.model or answer.model,
            "gen_ai.response.finish_reasons": [completion.finish_reason],
            "gen_ai.usage.input_tokens": completion.usage.prompt_tokens,
            "gen_ai.usage.output_tokens": completion.usage.completion_tokens,
            "parac.cost_usd": float(answer.cost_usd), "parac.cost.priced": answer.priced,
            "parac.attempts": answer.attempts,
        })
        if capture:  # the messages as the governance hooks left them (they redact in place), masked again
            span.set_attribute("gen_ai.input.messages", _content(messages))
            span.set_attribute("gen_ai.output.messages", _content([completion.to_message()]))
    return answer


def tool_call(call: ToolCall, workspace: Workspace | None) -> AbstractContextManager[Any]:
    """``execute_tool {tool}`` around one governed call, only when :data:`tracing` is on; the call's hooks, wrapped
    in :class:`ToolSpan`, fill it in. The arguments are recorded when ``workspace``'s
    ``telemetry.capture_content`` says so."""
    attributes = _present({
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.tool, "gen_ai.tool.call.id": call.call_id,
        "gen_ai.tool.type": "function", "parac.actor": call.actor, "parac.agent": call.agent,
        "parac.workflow": call.workflow, "parac.run_id": call.run_id, "parac.step": call.step,
        "parac.approved_by": call.approved_by,
    })
    if _captures(workspace):
        attributes["gen_ai.tool.call.arguments"] = _content(call.arguments)
    return _span(f"execute_tool {call.tool}", attributes, None)


class ToolSpan:
    """The call hooks of a traced tool call: the caller's own, and what the ``execute_tool`` span learns from them
    (the governance let the call through; its result, notes and, with ``capture_content``, content). A refusal is
    recorded from its ``CallDenied`` when the span ends. Only a traced call pays for this object."""

    def __init__(self, hooks: Any, span: Any, workspace: Workspace | None) -> None:
        self.hooks, self.span, self.workspace = hooks, span, workspace

    def before_tool_call(self, call: ToolCall) -> None:
        self.hooks.before_tool_call(call)
        self.span.set_attribute("parac.policy.decision", "allowed")

    def after_tool_call(self, call: ToolCall, result: Any, error: BaseException | None) -> None:
        self.hooks.after_tool_call(call, result, error)
        if error is not None:
            return
        for name, value in call.notes.items():
            if isinstance(value, (str, bool, int, float)):
                self.span.set_attribute(f"parac.note.{name}", value)
        if _captures(self.workspace):
            self.span.set_attribute("gen_ai.tool.call.result", _content(result))

    def __getattr__(self, name: str) -> Any:  # the LLM-call hooks and events: the caller's
        return getattr(self.hooks, name)


def workflow_run(workflow: str, run_id: str, *, resumed: bool) -> AbstractContextManager[Any]:
    """``invoke_workflow {workflow}`` around one run of a workflow by this process (a resume is another span)."""
    if tracing.tracer is None:
        return fields(run_id=run_id) if tracing.log_fields else _NOOP
    attributes = {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": workflow,
                  "parac.workflow": workflow, "parac.run_id": run_id, "parac.run.resumed": resumed}
    return _span(f"invoke_workflow {workflow}", attributes, None, run_id=run_id)


async def step(
    work: Awaitable[Any], workflow: str, run_id: str, step_id: str, kind: str,
    *, pause: tuple[type[BaseException], ...] = (),
) -> Any:
    """Await one step's work (every attempt) within its ``step {id}`` span, or only within its log fields when JSON
    logs want them without traces; its outcome's ``status`` and ``error`` (attributes, or keys of the DBOS
    engine's step end) say how it ended. Only when :data:`tracing` is ``scoped``: otherwise the engine awaits
    ``work`` itself. ``pause``: what a step raises to wait at a gate, no error."""
    if tracing.tracer is None:
        with fields(run_id=run_id, step=step_id):
            return await work
    attributes = {"parac.workflow": workflow, "parac.run_id": run_id, "parac.step": step_id, "parac.step.kind": kind}
    with _span(f"step {step_id}", attributes, None, run_id=run_id, step=step_id, ok=pause) as span:
        outcome = await work
        status, error = ((outcome["status"], outcome["error"]) if isinstance(outcome, Mapping)
                         else (outcome.status, outcome.error))
        span.set_attribute("parac.step.status", status)
        if error:
            _error(span, "step_failed", error)
    return outcome


def event(name: str, data: Mapping[str, Any]) -> None:
    """Put a runtime or workflow event (approval requested or decided, budget threshold, retry) on the current span."""
    if tracing.tracer is None:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.is_recording():
        return
    from .redact import redact

    attributes = {}
    for key, value in data.items():
        if key not in _EVENT_KEYS or value is None:
            continue
        if isinstance(value, str):
            attributes[f"parac.{key}"] = redact(value)[:1000]
        elif isinstance(value, (bool, int, float)):
            attributes[f"parac.{key}"] = value
    span.add_event(name, attributes)


# -- context across threads, processes, HTTP -----------------------------------------------------------------------
def inject(carrier: dict[str, str]) -> dict[str, str]:
    """Add ``traceparent`` (and ``tracestate``) of the current span to outgoing headers or ``_meta``."""
    if tracing.tracer is not None:
        from opentelemetry.propagate import inject as otel_inject

        otel_inject(carrier)
    return carrier


def carried() -> tuple[Any, Mapping[str, str] | None] | None:
    """The current span and log fields, to pick up in another thread or event loop with :func:`resumed` (never the
    whole ``contextvars`` context: that would carry the caller's event loop markers, which refuse a new loop)."""
    fields_now = LOG_FIELDS.get()
    if tracing.tracer is None:
        return None if fields_now is None else (None, fields_now)
    from opentelemetry import context as otel_context

    return otel_context.get_current(), fields_now


@contextlib.contextmanager
def resumed(what: tuple[Any, Mapping[str, str] | None] | None) -> Iterator[None]:
    """Make what :func:`carried` took current within the block."""
    if what is None:
        yield
        return
    otel, fields_then = what
    token = LOG_FIELDS.set(fields_then)
    attached = None
    if otel is not None:
        from opentelemetry import context as otel_context

        attached = otel_context.attach(otel)
    try:
        yield
    finally:
        if attached is not None:
            otel_context.detach(attached)
        LOG_FIELDS.reset(token)


@contextlib.contextmanager
def extracted(carrier: Mapping[str, str]) -> Iterator[None]:
    """Make the remote parent a carrier names (an HTTP request's ``traceparent``) current within the block."""
    if tracing.tracer is None or "traceparent" not in carrier:
        yield
        return
    from opentelemetry import context as otel_context
    from opentelemetry.propagate import extract

    token = otel_context.attach(extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


def span(name: str, attributes: Mapping[str, Any] | None = None, *, server: bool = False) -> AbstractContextManager[Any]:
    """A span of a face's own (an HTTP request: ``server=True``) or of a rare step such as enqueueing a run for a
    worker; no-op when tracing is off."""
    if tracing.tracer is None:
        return _NOOP
    from opentelemetry.trace import SpanKind

    return _span(name, dict(attributes or {}), None, kind=SpanKind.SERVER if server else SpanKind.INTERNAL)


def ids() -> tuple[str, str] | None:
    """The current trace id and span id in hex (log lines), or None outside a recorded span."""
    if tracing.tracer is None:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


@contextlib.contextmanager
def fields(**values: str | None) -> Iterator[None]:
    """Name what is being done (``run_id``, ``step``, ``request_id``) on the log lines written within the block."""
    merged = {**(LOG_FIELDS.get() or {}), **{k: v for k, v in values.items() if v is not None}}
    token = LOG_FIELDS.set(merged)
    try:
        yield
    finally:
        LOG_FIELDS.reset(token)


# -- helpers ---------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _span(
    name: str,
    attributes: dict[str, Any],
    context: CallContext | None,
    *,
    kind: Any = None,
    run_id: str | None = None,
    step: str | None = None,
    finish: Any = None,
    ok: tuple[type[BaseException], ...] = (),
) -> Iterator[Any]:
    """A current span that records a failure as ``error.type`` (and a refusal's rule) and never raises itself."""
    from opentelemetry.trace import SpanKind

    if context is not None:
        run_id, step = context.run_id, context.step
    with contextlib.ExitStack() as stack:
        if tracing.log_fields:
            stack.enter_context(fields(run_id=run_id, step=step))
        current = stack.enter_context(tracing.tracer.start_as_current_span(
            name, kind=kind or SpanKind.INTERNAL, attributes=attributes, record_exception=False,
            set_status_on_exception=False,
        ))
        try:
            yield current
        except ok:
            raise
        except BaseException as exc:
            _failed(current, exc)
            raise
        if finish is not None:
            finish(current)


def _failed(span: Any, exc: BaseException) -> None:
    import anyio

    from .calls import CallDenied

    if isinstance(exc, CallDenied):
        span.set_attributes(_present({"parac.policy.decision": "denied", "parac.policy.rule": exc.rule}))
        if (exc.rule or "").startswith("budget"):
            span.set_attribute("parac.budget.refused", True)
            span.add_event("parac.budget.refused", _present({"parac.rule": exc.rule}))
        _error(span, "denied", str(exc))
    elif isinstance(exc, anyio.get_cancelled_exc_class()):
        _error(span, "cancelled", "cancelled")
    else:
        _error(span, type(exc).__qualname__, str(exc) or type(exc).__name__)


def _error(span: Any, kind: str, message: str) -> None:
    from opentelemetry.trace import StatusCode

    from .redact import redact

    span.set_attribute("error.type", kind)
    span.set_status(StatusCode.ERROR, redact(message)[:500])


def _on_behalf(context: CallContext) -> dict[str, Any]:
    return {"parac.actor": context.actor, "parac.workflow": context.workflow, "parac.run_id": context.run_id,
            "parac.step": context.step}


def _captures(workspace: Workspace | None) -> bool:
    return workspace is not None and workspace.settings.telemetry.capture_content


def _present(attributes: dict[str, Any]) -> dict[str, Any]:
    """OpenTelemetry refuses None as an attribute value: leave out what is not known."""
    return {key: value for key, value in attributes.items() if value is not None}


def _content(value: Any) -> str:
    """Content for a span: JSON, masked by the process's redaction, cut at :data:`MAX_CONTENT_CHARS`."""
    from .redact import redact

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = redact(text)
    return text if len(text) <= MAX_CONTENT_CHARS else text[:MAX_CONTENT_CHARS] + "…"
