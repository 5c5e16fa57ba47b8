"""The audit entry's `arguments_digest`: a digest of the arguments as the current redactor masks them, whether the
governance plugin worked it out now or remembered it from an earlier call with the same arguments."""

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
    first, names = governance._digest(arguments)
    names.append("changed by the caller")  # the names handed out are the caller's own list
    assert governance._digest(arguments) == (first, ["name", "token"]) and first == expected(plain, arguments)
    # Policies re-read with a redaction pattern: the same arguments now digest as masked, not as remembered.
    governance.redactor = masking = Redactor(patterns=[r"secret-\d+"])
    masked, _ = governance._digest(dict(arguments))
    assert masked == expected(masking, arguments) != first
    assert masking.value(arguments)["token"] != "secret-1234"
    governance.redactor = plain
    assert governance._digest(arguments)[0] == first


def test_arguments_not_remembered_are_digested_as_before():
    governance = parac_plugin()
    for arguments in ({"limit": 5, "name": "a"}, {"text": "x" * 10_000}, {"tags": ["secret-1"]}, {}):
        assert governance._digest(arguments)[0] == expected(governance.redactor, arguments)
        assert governance._digest(arguments)[1] == sorted(arguments)
