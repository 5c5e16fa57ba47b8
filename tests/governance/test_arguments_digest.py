"""The audit entry's `arguments_digest`: a digest of the arguments as the redactor in force at the call masks them,
whether the governance plugin worked it out now or remembered it from an earlier call with the same arguments."""

from __future__ import annotations

import hashlib

from parac.core.audit import canonical_json
from parac.core.redact import Redactor
from parac.plugins.governance import parac_plugin


def expected(redactor: Redactor, arguments: dict) -> str:
    return hashlib.sha256(canonical_json(redactor.value(arguments)).encode()).hexdigest()


def test_a_remembered_digest_follows_the_redactor_in_force():
    governance = parac_plugin()
    arguments = {"name": "deploy", "token": "secret-1234"}
    plain = governance.redactor
    first, names = governance._digest(arguments, plain)
    names.append("changed by the caller")  # the names handed out are the caller's own list
    assert governance._digest(arguments, plain) == (first, ["name", "token"]) and first == expected(plain, arguments)
    # Policies re-read with a redaction pattern: the same arguments now digest as masked, not as remembered.
    masking = Redactor(patterns=[r"secret-\d+"])
    masked, _ = governance._digest(dict(arguments), masking)
    assert masked == expected(masking, arguments) != first
    assert masking.value(arguments)["token"] != "secret-1234"
    assert governance._digest(arguments, plain)[0] == first


def test_arguments_not_remembered_are_digested_as_before():
    governance = parac_plugin()
    for arguments in ({"limit": 5, "name": "a"}, {"text": "x" * 10_000}, {"tags": ["secret-1"]}, {}):
        assert governance._digest(arguments, governance.redactor)[0] == expected(governance.redactor, arguments)
        assert governance._digest(arguments, governance.redactor)[1] == sorted(arguments)


def test_a_tool_calls_entry_is_made_by_the_writer_as_the_call_saw_it(tmp_path):
    """The hook hands the writer a function; what it records is the call's arguments and the redactor in force at the
    call, though the caller changes both before the writer runs."""
    from parac.core.audit import AuditLog
    from parac.core.calls import ToolCall

    governance = parac_plugin()
    governance.audit = audit = AuditLog(tmp_path / "parac.db")
    arguments = {"name": "deploy", "token": "secret-1234"}
    call = ToolCall("get_agent", arguments, actor="token:ci")
    masking = governance.redactor = Redactor(patterns=[r"secret-\d+"])
    with audit._lock:  # the writer cannot write the entry before the caller has changed what it holds
        governance.parac_after_tool_call(call=call, result=None, error=None)
        arguments["token"] = "changed"
        governance.redactor = Redactor()
    audit.flush()
    entry = next(audit.entries(action="tool.call"))
    assert entry.data["arguments_digest"] == expected(masking, {"name": "deploy", "token": "secret-1234"})
    assert (entry.actor, entry.subject, entry.outcome) == ("token:ci", "get_agent", "ok")
    assert entry.data["call_id"] == call.call_id and entry.data["argument_names"] == ["name", "token"]


def test_an_entry_whose_data_cannot_be_made_is_left_out_and_the_rest_written(tmp_path):
    from parac.core.audit import AuditLog

    audit = AuditLog(tmp_path / "parac.db")

    def broken() -> dict:
        raise ValueError("no data")

    for action, data in (("a", {"n": 1}), ("b", broken), ("c", lambda: {"n": 3}), ("d", {"n": 4})):
        audit.submit(action, actor="x", subject="s", data=data)
    audit.flush()
    assert [(e.action, e.data) for e in audit.entries()] == [("a", {"n": 1}), ("c", {"n": 3}), ("d", {"n": 4})]
    assert audit.verify().ok
