"""`Redactor.texts` (a batch masked with one scan per trigger over the texts joined) masks exactly as `Redactor.text`
masks each text: checked on generated batches full of triggers, secrets, near-misses and text that lowers oddly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from parac.core.redact import Redactor

SECRET = "hunter2-correct-horse"
PIECES = [
    "sk-", "sk-ant-", "ghp_", "AKIA", "eyJ", "Bearer ", "password=", "token: ", "key", "-----BEGIN RSA PRIVATE KEY-----",
    "aZ09aZ09aZ09aZ09aZ09aZ09", ".", " ", "\n", "the kettle", "İ", "ß", SECRET, SECRET[:7], SECRET[7:], "a@b.io",
]
batches = st.lists(st.lists(st.sampled_from(PIECES), max_size=8).map("".join), max_size=12)


@settings(max_examples=300, deadline=None)
@given(batches)
def test_a_batch_is_masked_as_each_text_is(values: list[str]):
    redactor = Redactor(env={"SERVICE_PASSWORD": SECRET})
    assert redactor.texts(values) == [redactor.text(value) for value in values]


@settings(max_examples=100, deadline=None)
@given(batches)
def test_under_always_on_patterns_too(values: list[str]):
    redactor = Redactor(env={}, pii=["email"], patterns=[r"kettle"])
    assert redactor.texts(values) == [redactor.text(value) for value in values]


def test_a_secret_spanning_two_texts_masks_neither_wrongly():
    redactor = Redactor(env={"SERVICE_PASSWORD": SECRET})
    values = ["x " + SECRET[:7], SECRET[7:] + " y", "plain", "x " + SECRET]
    assert redactor.texts(values) == [redactor.text(v) for v in values]
    assert SECRET not in redactor.texts(values)[3]
