"""The audit trail: an append-only, hash-chained log in the workspace's SQLite database.

Every entry holds ``seq``, the server's time, the actor, the action, its subject, the outcome, a JSON ``data``
object, the previous entry's hash and its own hash. The hash covers the canonical JSON of all those fields (keys
sorted, no spaces, non-ASCII text as UTF-8, only ``"``, ``\\`` and control characters escaped), so changing any byte of an entry, removing one, reordering or inserting one breaks
the chain at that point. With ``PARAC_AUDIT_KEY`` set the hash is an HMAC, so whoever rewrites the chain also needs
the key; without it, a rewrite of the whole chain from the first changed entry on is only caught by the head record
and by anchors kept elsewhere.

Cutting entries off the end leaves a valid chain, so the log also keeps a signed *head record* (the last ``seq`` and
hash) in a file beside the database, ``.parac/state/audit.head``, and prints *anchors* on request (the same record,
meant to be stored somewhere the attacker cannot reach); `AuditLog.verify` compares the table with both.

Hashes carry their algorithm (``sha256:…`` or ``hmac-sha256:…``) so that a log started before a key was set stays
verifiable; the head records from which entry on the chain is keyed, and an unkeyed entry after that point is
reported as changed (a downgrade is the first thing someone without the key would try).

Speed matters because every tool and model call appends: appends inside `AuditLog.batch` share one durable commit,
and `verify` builds each entry's canonical JSON by concatenation from the stored columns (``data`` is stored in its
canonical form), not by re-serialising it.

Modules: `schema` (the table, the canonical JSON an entry's hash covers, the hash and signature forms), `log`
(`AuditLog`: appending, group commit, the head record, anchors, reading), `verify` (the walk that names the first
bad entry, and the head and anchor checks).
"""

from .log import GROUP_COMMIT_S, HEAD_FILE, MAX_BATCH, AuditError, AuditLog, audit_key, now
from .schema import HMAC, KEY_ENV, SHA, AuditEntry, Hasher, canonical_json, entry_message
from .verify import RENUMBER_WINDOW, Problem, VerifyReport

__all__ = [
    "GROUP_COMMIT_S", "HEAD_FILE", "HMAC", "KEY_ENV", "MAX_BATCH", "RENUMBER_WINDOW", "SHA", "AuditEntry",
    "AuditError", "AuditLog", "Hasher", "Problem", "VerifyReport", "audit_key", "canonical_json", "entry_message",
    "now",
]
