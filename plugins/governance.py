"""Governance as a built-in plugin: policies decide every tool call, the audit trail records every call and event,
and redaction masks secrets before they are written or sent to a model.

It works only through the host's hooks, as a third-party plugin would. Each host gets its own `Governance` (the
module's `parac_plugin` makes one per host), so two workspaces served by one process keep their own policies,
audit trail and redaction:

- ``parac_workspace_opened``: bind to the workspace (its policies) and mask its secrets in the process's log
  output (which is masked with the configuration of every open workspace: see `parac.core.redact.OUTPUT`). The audit log
  opens only when the process writes its first entry, so read-only commands (``parac validate``) never create or
  touch the database; at that moment, before that entry, a ``config.change`` entry is written when ``parac.yaml``
  or a policy file differs from what the trail last saw, and a ``plugin.load`` entry when the plugins the host
  loaded differ from the trail's last ``plugin.load``. Later reloads of the policies (a file edited while a server
  runs) are checked the same way before the next entry;
- ``parac_before_tool_call``: a registered tool runs only when a policy grants it to the caller (agent, workflow,
  or neither for direct calls), within its rate limit, and not when it needs a person's approval; a refusal raises
  ``CallDenied`` with the rule's reason. parac's own MCP management tools are not registered tools: the MCP
  server's roles govern them, and they are audited like the rest;
- ``parac_after_tool_call`` / ``parac_after_llm_call`` / ``parac_event``: one audit entry each (arguments only as a
  digest of their redacted form; errors redacted; with what the tool noted about the call, such as the sandbox
  it ran in). The host's ``plugin.load`` event (the plugins it loaded) is kept
  until the trail is written, as above;
- ``parac_before_llm_call``: the messages are redacted in place before they leave for the model.

With no workspace open there is no policy, so every registered tool is refused: deny unless granted. Without this
plugin (disabled, failed to import or to open the workspace) the host refuses registered tools itself.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import hashlib
import logging
import sqlite3
import threading
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

from parac.core.audit import AuditLog, audit_key, canonical_json
from parac.core.policy import Policies, policy_paths
from parac.core.redact import OUTPUT, Redactor, install_log_redaction, redact_stderr
from parac.server.api import CallDenied, LLMCall, ToolCall, hookimpl

log = logging.getLogger("parac.governance")
_DIGESTS_KEPT, _DIGESTED_LENGTH = 1024, 200
_CALL_KEYS = ("agent", "workflow", "run_id", "step", "idempotency_key")
"""What a tool call's audit entry names besides its id and arguments, when the call has it."""
_NOT_STARTED: tuple[None, None] = (None, None)
"""How many distinct arguments' digests a host remembers (`Governance._digest`), and how long each of their texts
may be: names and ids, not documents, so that what is remembered stays small."""


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Governance:
    """Governance for one host: the workspace it opened, that workspace's policies, redactor and audit log."""

    def __init__(self) -> None:
        self.workspace: Any = None
        self.audit: AuditLog | None = None
        self.redactor = Redactor()  # secret shapes and secret-named environment values until a workspace opens
        self.plugins: list[dict[str, Any]] | None = None  # what the host loaded, until the trail has it
        self.config_pending = False  # the settings or policies were (re)loaded since the trail last looked
        self._policies: Policies | None = None
        self.started: dict[str, tuple[float, str | None]] = {}
        self._digests: dict[tuple[Redactor, tuple[tuple[str, str], ...]], tuple[str, list[str]]] = {}
        self._lock = threading.Lock()
        self.user = _local_user()

    # -- the hooks -------------------------------------------------------------------------------------------------

    @hookimpl
    def parac_workspace_opened(self, workspace: Any) -> None:
        with self._lock:
            if self.audit is not None and self.workspace is not None and self.workspace.root != workspace.root:
                self.audit.close()
                self.audit = None
            self.workspace = workspace
            self._policies = None
            self.config_pending = True
        self._follow(workspace.current_policies(refresh=True))
        install_log_redaction()
        redact_stderr()

    @hookimpl
    def parac_before_tool_call(self, call: ToolCall) -> None:
        if not call.registered:
            return  # one of parac's own MCP tools, which roles govern
        policies = self.policies()
        if policies is None:
            raise CallDenied(f'tool "{call.tool}" refused: no workspace is open, so no policy grants it',
                             rule="no workspace")
        try:  # a tool runs only if its call can be recorded
            self.audit or self.open_audit()
        except (OSError, sqlite3.Error) as exc:
            raise CallDenied(f'tool "{call.tool}" refused: the audit trail cannot be written ({exc})',
                             rule="audit") from exc
        decision = policies.admit(call.tool, agent=call.agent, workflow=call.workflow)
        if not decision.allowed:
            raise CallDenied(decision.reason, rule=decision.rule)
        contribution = self.workspace.catalog.tools.get(call.tool) if self.workspace.catalog is not None else None
        tool = contribution.value if contribution is not None else None
        needs_person = decision.approval_required or getattr(tool, "needs_approval", False)
        if needs_person and not call.approved_by:  # a workflow gate answered by a person sets approved_by
            raise CallDenied(
                f'tool "{call.tool}" needs a person\'s approval for each call; '
                f"run it from a workflow step after an approval gate",
                rule=decision.rule,
            )
        self.started[call.call_id] = (time.monotonic(), decision.rule)

    @hookimpl
    def parac_after_tool_call(self, call: ToolCall, result: Any, error: BaseException | None) -> None:
        started, rule = self.started.pop(call.call_id, _NOT_STARTED)
        duration_ms = None if started is None else round((time.monotonic() - started) * 1000, 3)
        if error is None:
            outcome = "ok"
        elif isinstance(error, CallDenied):
            outcome = "denied"
        elif isinstance(error, asyncio.CancelledError):  # the caller stopped it (an MCP cancel): not a failure
            outcome = "cancelled"
        else:
            outcome = "error"
        made = functools.partial(self._call_data, call, dict(call.arguments), error, duration_ms, rule, self.redactor)
        self.record("tool.call", actor=call.actor, subject=call.tool, outcome=outcome, data=made)

    def _call_data(self, call: ToolCall, arguments: dict[str, Any], error: BaseException | None,
                   duration_ms: float | None, rule: str | None, redactor: Redactor) -> dict[str, Any]:
        """A tool call's entry data, made by the audit writer rather than by the call (`AuditLog.submit` takes a
        function): what the call was asked (with the redactor in force then), how long it took, and why it failed.
        The call is over, so nothing in it changes meanwhile."""
        digest, names = self._digest(arguments, redactor)
        data: dict[str, Any] = {"call_id": call.call_id, "arguments_digest": digest, "argument_names": names}
        for name in _CALL_KEYS:
            value = getattr(call, name)
            if value is not None:
                data[name] = value
        if duration_ms is not None:
            data["duration_ms"] = duration_ms
        if rule:
            data["policy"] = rule
        for name, value in call.notes.items():  # what the tool reported (ToolContext.note), never over ours
            data.setdefault(name, value)
        if isinstance(error, CallDenied):
            data["reason"] = str(error)
            if error.rule:
                data["policy"] = error.rule
        elif error is not None and not isinstance(error, asyncio.CancelledError):
            data["error"] = f"{type(error).__name__}: {error}"[:2000]
        return data

    def _digest(self, arguments: dict[str, Any], redactor: Redactor) -> tuple[str, list[str]]:
        """The digest of the redacted arguments, and their names. Reads repeat the same few flat arguments (an
        agent's name), so for short text-only ones the pair is remembered per redactor: a `Redactor` is fixed once
        made (re-read policies make a new one), so the same text arguments always redact, and digest, the same."""
        items = arguments.items()
        key: tuple[Redactor, tuple[tuple[str, str], ...]] | None = (redactor, tuple(items))
        for name, value in items:
            if type(name) is not str or type(value) is not str or len(value) > _DIGESTED_LENGTH:
                key = None
                break
        if key is not None:
            found = self._digests.get(key)
            if found is not None:
                return found[0], list(found[1])
        found = hashlib.sha256(canonical_json(redactor.value(arguments)).encode()).hexdigest(), sorted(arguments)
        if key is not None:
            if len(self._digests) >= _DIGESTS_KEPT:
                self._digests.clear()
            self._digests[key] = found
        return found[0], list(found[1])

    @hookimpl
    def parac_before_llm_call(self, call: LLMCall) -> None:
        redactor = self.redactor
        for message in call.messages:
            if isinstance(message, dict):
                for key in ("content", "tool_calls"):
                    if message.get(key) is not None:
                        message[key] = redactor.value(message[key])

    @hookimpl
    def parac_after_llm_call(self, call: LLMCall, response: Any, error: BaseException | None) -> None:
        data: dict[str, Any] = {"call_id": call.call_id, "provider": call.provider,
                                "estimated_usd": call.estimated_usd}
        for name in ("agent", "workflow", "run_id", "step", "tool"):
            value = getattr(call, name)
            if value is not None:
                data[name] = value
        usage = getattr(response, "usage", None)
        if usage is not None:
            data["prompt_tokens"] = getattr(usage, "prompt_tokens", None)
            data["completion_tokens"] = getattr(usage, "completion_tokens", None)
        cost = getattr(response, "cost_usd", None)
        if cost is not None:
            data["cost_usd"] = cost
        if getattr(response, "cached", False):
            data["cached"] = True
        outcome = "ok"
        if error is not None:
            outcome = "denied" if isinstance(error, CallDenied) else "error"
            data["error"] = f"{type(error).__name__}: {error}"[:2000]
        self.record("llm.call", actor=call.actor, subject=call.model, outcome=outcome, data=data)

    @hookimpl
    def parac_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "plugin.load":  # the host's plugin set: kept until the trail is next written
            with self._lock:
                self.plugins = sorted(data.get("plugins") or [], key=lambda plugin: str(plugin.get("name")))
            return
        actor = str(data.get("actor") or data.get("by") or "local")
        subject = str(data.get("run_id") or data.get("workflow") or data.get("agent") or data.get("name") or "")
        outcome = str(data.get("status") or data.get("outcome") or "ok")
        self.record(name, actor=actor, subject=subject, outcome=outcome, data=dict(data))

    # -- state -------------------------------------------------------------------------------------------------------

    def policies(self) -> Policies | None:
        """The workspace's policies; when they were reloaded (a file changed), the next entry checks the
        configuration first, so a long-running server records edits too."""
        if self.workspace is None:
            return None
        policies = self.workspace.current_policies()
        if policies is not self._policies:
            self._follow(policies)
        return policies

    def _follow(self, policies: Policies) -> None:
        """Take up (re)loaded policies: their redactor masks this workspace's trail and prompts, and joins the
        process's output masking; the trail checks the configuration before its next entry."""
        with self._lock:
            self._policies, self.config_pending = policies, True
            self.redactor = policies.redactor()
            if self.audit is not None:
                self.audit.redactor = self.redactor
        OUTPUT.add(self, self.redactor)

    def actor(self, actor: str) -> str:
        """Who acted, as the trail names them: local calls (the CLI, a stdio MCP session) carry the OS user."""
        if actor in ("local", "cli", "") or actor.startswith("mcp:stdio"):
            return f"{actor or 'local'}:{self.user}"
        return actor

    def record(self, action: str, *, actor: str, subject: str, outcome: str,
               data: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        audit = self.audit or self.open_audit()
        if audit is None:
            return
        if self.config_pending or self.plugins is not None:
            with self._lock:
                self._catch_up(audit)
        audit.submit(action, actor=self.actor(actor), subject=subject, outcome=outcome, data=data)

    def open_audit(self) -> AuditLog | None:
        """The audit log, opened by the first entry this host writes, after the configuration and plugin
        entries that the trail has not seen yet."""
        with self._lock:
            if self.audit is None and self.workspace is not None:
                audit = AuditLog.for_workspace(self.workspace.root, key=audit_key(), redactor=self.redactor)
                self.config_pending = True
                self._catch_up(audit)
                self.audit = audit
            return self.audit

    def _catch_up(self, audit: AuditLog) -> None:
        """What the trail has not seen yet, written before the next entry: the configuration when it was (re)loaded,
        the plugin set when the host announced one."""
        if self.config_pending and self.workspace is not None:
            self.config_pending = False
            self._record_configuration(audit, Path(self.workspace.root))
        self._record_plugins(audit)

    def _record_configuration(self, audit: AuditLog, root: Path) -> None:
        """A ``config.change`` entry whenever the settings or policies differ from the last ones on the trail."""
        files = {}
        for path in [root / ".parac" / "parac.yaml", *policy_paths(root)]:
            try:
                files[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
            except (OSError, ValueError):
                continue
        self._record_if_new(audit, "config.change", "settings and policies", {"files": files})

    def _record_plugins(self, audit: AuditLog) -> None:
        """A ``plugin.load`` entry whenever the loaded plugins differ from the last set on the trail."""
        if self.plugins is not None:
            plugins, self.plugins = self.plugins, None
            self._record_if_new(audit, "plugin.load", f"{len(plugins)} plugins", {"plugins": plugins})

    def _record_if_new(self, audit: AuditLog, action: str, subject: str, data: dict[str, Any]) -> None:
        digest = hashlib.sha256(canonical_json(data).encode()).hexdigest()
        audit.flush()  # the last entry of this kind may still be queued by this process
        last = audit.last(action)
        if last is None or last.data.get("digest") != digest:
            audit.submit(action, actor=self.actor("local"), subject=subject, data={"digest": digest, **data})


def parac_plugin() -> Governance:
    """One `Governance` per host: the host calls this instead of registering the module (see
    :mod:`parac.server.api`), so each workspace's policies, trail and redactor stay with its host."""
    return Governance()
