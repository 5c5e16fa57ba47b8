"""Masking secrets and personal data before anything leaves the process's memory.

Everything parac writes (audit entries, logs, error messages) or sends (prompts to a model) passes through a
`Redactor` first. It masks three things:

- **secret shapes**: API keys of the common providers, bearer tokens, JWTs, private-key blocks, passwords in URLs
  and ``key=value`` assignments;
- **environment values**: the value of every environment variable whose *name* looks like it holds a secret
  (``*_KEY``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ...), so a key that has no recognisable shape is still caught
  when it leaks verbatim;
- **configured patterns**: regular expressions from the policies, and the named PII patterns (email, phone, ...)
  when data-minimisation asks for them.

Masks say what was removed (``[REDACTED:openai-key]``) so that a reader still understands the record, and never keep
any part of the secret: a prefix or suffix narrows a brute-force search.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Shapes of well-known credentials: kind -> (pattern, triggers). A pattern runs only on text that contains one of
#: its triggers (compared in lower case): plain substring tests cost nanoseconds where a regex scan of every position
#: costs microseconds, and almost no text contains a secret. A pattern's group ``s``, when it has one, is what gets
#: masked; the rest of the match (a header name, a URL's user) is kept for the reader.
SECRET_SHAPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "private-key": (
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
        ("private key-----",),
    ),
    "anthropic-key": (r"\bsk-ant-[A-Za-z0-9_-]{16,}", ("sk-ant-",)),
    "openai-key": (r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", ("sk-",)),
    "stripe-key": (r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", ("_live_", "_test_")),
    "aws-access-key": (
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b",
        ("akia", "asia", "agpa", "aida", "aroa", "anpa"),
    ),
    "github-token": (
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    "gitlab-token": (r"\bglpat-[A-Za-z0-9_-]{20,}", ("glpat-",)),
    "slack-token": (r"\bxox[abposr]-[A-Za-z0-9-]{10,}", ("xox",)),
    "google-api-key": (r"\bAIza[0-9A-Za-z_-]{35}", ("aiza",)),
    "huggingface-token": (r"\bhf_[A-Za-z0-9]{30,}", ("hf_",)),
    "parac-token": (r"\bparac_[A-Za-z0-9_-]{32,}", ("parac_",)),
    "jwt": (r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ("eyj",)),
    "bearer": (r"(?i:\b(?:bearer|token)\s+)(?P<s>[A-Za-z0-9._~+/-]{16,}=*)", ("bearer", "token")),
    "url-password": (r"(?i:\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)(?P<s>[^\s/@]+)(?=@)", ("://",)),
    "assignment": (
        r"(?i:(?:api[_-]?key|secret|token|passwd|password|credential)s?[\"']?\s*[:=]\s*[\"']?)"
        r"(?P<s>[^\s\"',;&]{8,})",
        ("key", "secret", "token", "passw", "credential"),
    ),
}

#: Trigger -> the secret shapes it wakes, derived once from `SECRET_SHAPES`: a constant, like the table it indexes.
_TRIGGERS: dict[str, list[str]] = {}
for _kind, (_, _triggers) in SECRET_SHAPES.items():
    for _trigger in _triggers:
        _TRIGGERS.setdefault(_trigger, []).append(_kind)

#: Personal data, masked only when configured (``redaction.pii`` in a policy, or data-minimisation mode).
PII_SHAPES: dict[str, str] = {
    "email": r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    "phone": r"(?<![\w+])\+?\d{1,3}[ .-]?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}\b",
    "credit-card": r"\b(?:\d[ -]?){12,18}\d\b",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
    "us-ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "ipv4": r"\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b",
}

#: Environment variable names whose values are treated as secrets.
SECRET_ENV_NAME = re.compile(
    r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?|AUTH|PRIVATE|SESSION|COOKIE|DSN)(?:_|$)"
    r"|(?:KEY|TOKEN|SECRET|PASSWORD)$",
    re.IGNORECASE,
)
#: Values shorter than this are not masked by their environment name: ``1``, ``true`` or ``dev`` would mask
#: half of every record while protecting nothing.
MIN_ENV_SECRET = 8

MASK = "[REDACTED:{}]"
_CACHED_LENGTH = 64
_PLAIN = (int, float, bool, type(None))
_CACHE_SIZE = 4096


class Redactor:
    """Masks secrets and configured patterns in text and in JSON-like values.

    Build one per configuration and reuse it. Text that contains none of the triggers of the secret shapes (and no
    configured pattern is set) is returned after a few substring tests; otherwise the shapes whose triggers occur are
    joined into one alternation (compiled once per combination), so masking costs one regex scan.
    """

    def __init__(
        self,
        *,
        patterns: Iterable[str] = (),
        pii: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        """``patterns`` are extra regular expressions (masked as ``pattern``); ``pii`` names entries of `PII_SHAPES`
        (``"all"`` for every one); ``env`` is scanned for secret-named variables (default: ``os.environ``);
        ``secrets`` are literal values to mask wherever they appear."""
        patterns, pii, secrets = tuple(patterns), tuple(pii), tuple(secrets)
        #: The configuration, kept so that output can be masked with that of every open workspace.
        self.patterns, self.pii, self.secrets = patterns, pii, secrets
        unknown = [name for name in pii if name != "all" and name not in PII_SHAPES]
        if unknown:
            raise ValueError(f"unknown PII pattern {unknown[0]!r}; known: {', '.join(sorted(PII_SHAPES))}, all")
        literals = sorted(set(secret_env_values(os.environ if env is None else env)) | set(secrets), key=len, reverse=True)
        self._literals = literals
        #: Shapes that run on every text: configured patterns and PII have no literal trigger.
        always: dict[str, str] = {}
        if literals:
            always["secret-value"] = "|".join(re.escape(value) for value in literals)
        for index, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redaction pattern {pattern!r} is not a valid regular expression: {exc}") from None
            always[f"pattern-{index}"] = pattern
        for name in PII_SHAPES if "all" in pii else pii:
            always[name] = PII_SHAPES[name]
        self._always = always
        self._compiled: dict[tuple[str, ...], tuple[re.Pattern[str], list[str]]] = {}
        #: Short strings (tool names, keys, outcomes) repeat in every record; their masked form is remembered.
        self._cache: dict[str, str] = {}

    def text(self, value: str) -> str:
        """``value`` with every match masked."""
        if len(value) <= _CACHED_LENGTH:
            cached = self._cache.get(value)
            if cached is None:
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
                cached = self._cache[value] = self._mask_text(value)
            return cached
        return self._mask_text(value)

    def texts(self, values: Sequence[str]) -> list[str]:
        """Many texts masked as :meth:`text` masks each, in about half the time for a batch (a memory ingest): each
        shape's trigger and each known secret is looked for once over all the texts joined, and only the texts
        where one occurs (or which one spans into) are masked; the others have nothing to mask. Always-on patterns
        (configured ones, PII) have no trigger, so under them every text is masked on its own."""
        if any(kind != "secret-value" for kind in self._always):
            return [self.text(value) for value in values]
        joined = "\n".join(values)
        lowered = joined.lower()
        if len(lowered) != len(joined):  # a few characters lower into two: offsets would not line up
            return [self.text(value) for value in values]
        starts, at = [], 0
        for value in values:
            starts.append(at)
            at += len(value) + 1
        flagged: set[int] = set()
        for needle, haystack in [*((t, lowered) for t in _TRIGGERS), *((s, joined) for s in self._literals)]:
            found = haystack.find(needle)
            while found >= 0:
                first = bisect.bisect_right(starts, found) - 1
                flagged.update(range(first, bisect.bisect_right(starts, found + len(needle) - 1)))
                found = haystack.find(needle, found + 1)
        return [self.text(value) if index in flagged else value for index, value in enumerate(values)]

    def _mask_text(self, value: str) -> str:
        lowered = value.lower()
        hits = [trigger for trigger in _TRIGGERS if trigger in lowered]
        kinds = list(dict.fromkeys(kind for trigger in hits for kind in _TRIGGERS[trigger])) if hits else []
        if self._always:
            if self._literals and not any(literal in value for literal in self._literals):
                kinds.extend(kind for kind in self._always if kind != "secret-value")
            else:
                kinds.extend(self._always)
        if not kinds:
            return value
        regex, names = self._regex_for(tuple(kinds))
        return regex.sub(lambda match: _mask(match, names), value)

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value (dicts, lists, strings, scalars) with every string masked.

        Mapping keys are masked too: a secret used as a key is still a secret. Every tool call's arguments pass
        through here before they are audited, so plain strings and numbers inside a mapping or list are handled
        in place rather than by a call each."""
        if isinstance(value, str):
            return self.text(value)
        text, nested = self.text, self.value
        if isinstance(value, Mapping):
            return {
                text(key if type(key) is str else str(key)):
                    text(item) if type(item) is str else item if type(item) in _PLAIN else nested(item)
                for key, item in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [text(item) if type(item) is str else item if type(item) in _PLAIN else nested(item) for item in value]
        return value

    def _regex_for(self, kinds: tuple[str, ...]) -> tuple[re.Pattern[str], list[str]]:
        """The alternation of ``kinds``; each alternative is group ``gN`` with its secret, if any, in ``gNs``."""
        cached = self._compiled.get(kinds)
        if cached is None:
            parts = []
            for index, kind in enumerate(kinds):
                pattern = SECRET_SHAPES[kind][0] if kind in SECRET_SHAPES else self._always[kind]
                parts.append(f"(?P<g{index}>{pattern.replace('(?P<s>', f'(?P<g{index}s>')})")
            names = ["pattern" if kind.startswith("pattern-") else kind for kind in kinds]
            cached = self._compiled[kinds] = (re.compile("|".join(parts)), names)
        return cached


def _mask(match: re.Match[str], names: list[str]) -> str:
    """The replacement for one match: the kept prefix and suffix, the secret replaced by its kind's mask."""
    group = match.lastgroup or "g0"  # the outer group of the alternative that matched closes last
    mask = MASK.format(names[int(group[1:])])
    inner = f"{group}s"
    if inner not in match.re.groupindex or match.group(inner) is None:
        return mask
    whole = match.group(group)
    start = match.start(inner) - match.start(group)
    return whole[:start] + mask + whole[start + len(match.group(inner)):]


def secret_env_values(env: Mapping[str, str]) -> list[str]:
    """The values of variables in ``env`` whose names say they hold a secret."""
    return [value for name, value in env.items() if len(value) >= MIN_ENV_SECRET and SECRET_ENV_NAME.search(name)]


class OutputRedaction:
    """What masks the process's own output (log records, ``sys.stderr``): the secret shapes and secret-named
    environment values, plus the patterns and PII kinds of every workspace a host has open.

    A process has one stderr and one root logger however many workspaces it serves, and a log line does not
    reliably say which workspace it belongs to (a library's logger, a worker thread), so output is masked with the
    union of every open workspace's configuration: masking too much is safe, masking too little leaks. Data that
    belongs to one workspace (its audit trail, the prompts its calls send) is masked by that workspace's own
    `Redactor` alone. This is why this one object is per process, not per workspace."""

    def __init__(self) -> None:
        self._sources: dict[int, Redactor] = {}
        self._merged: Redactor | None = None
        # Reentrant: a garbage collection while the lock is held (building the merged redactor allocates) can run a
        # gone host's finalizer, `_forget`, on this same thread; a plain lock deadlocked the process there.
        self._lock = threading.RLock()

    def redactor(self) -> Redactor:
        """The redactor for output, rebuilt after a workspace's configuration joined or left."""
        merged = self._merged
        if merged is None:
            with self._lock:
                sources = list(self._sources.values())
                merged = self._merged = Redactor(
                    patterns=dict.fromkeys(p for r in sources for p in r.patterns),
                    pii=dict.fromkeys(k for r in sources for k in r.pii),
                    secrets={s for r in sources for s in r.secrets},
                )
        return merged

    def add(self, owner: object, redactor: Redactor) -> None:
        """Mask output with ``redactor``'s configuration too, until ``owner`` (a host's governance) is gone or
        `remove` is called; adding again for the same owner replaces its configuration."""
        with self._lock:
            if id(owner) not in self._sources:
                weakref.finalize(owner, self._forget, id(owner))
            self._sources[id(owner)], self._merged = redactor, None

    def remove(self, owner: object) -> None:
        self._forget(id(owner))

    def _forget(self, key: int) -> None:
        with self._lock:
            if self._sources.pop(key, None) is not None:
                self._merged = None


#: The process's output masking (see `OutputRedaction` for why it is per process).
OUTPUT = OutputRedaction()


def default_redactor() -> Redactor:
    """The redactor for the process's output: secret shapes and secret-named environment values, plus the
    configured patterns of every open workspace (`OUTPUT`)."""
    return OUTPUT.redactor()


def redact(value: str) -> str:
    """``value`` masked as the process's output is (`default_redactor`)."""
    return default_redactor().text(value)


class RedactingFilter(logging.Filter):
    """A logging filter that masks the formatted message, the exception text and the structured ``fields`` (the
    JSON log lines' extra keys, such as a step's error) of every record.

    Attach it to handlers, not loggers: a logger's filters do not see records that propagate from its children."""

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = default_redactor()
        message = record.getMessage()
        masked = redactor.text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            record.exc_text = redactor.text("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = redactor.value(fields)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach a `RedactingFilter` to every handler of ``logger`` (default: the root logger), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())


class RedactingStream:
    """A text stream that masks what is written to it, delegating everything else to the stream it wraps.

    Installed over ``sys.stderr`` by `redact_stderr`, it covers what logging filters cannot: error messages printed
    by commands, warnings and tracebacks. Masking works per ``write`` call, and every writer here (click, logging,
    the traceback printer) writes a message in one call."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(default_redactor().text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def redact_stderr() -> None:
    """Wrap ``sys.stderr`` in a `RedactingStream` (once)."""
    import sys

    if not isinstance(sys.stderr, RedactingStream) and sys.stderr is not None:
        sys.stderr = RedactingStream(sys.stderr)  # type: ignore[assignment]
