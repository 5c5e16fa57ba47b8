"""Property-based tests of inheritance over random forests of agents (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from parac.core.inheritance import InheritanceError, chain_of, resolve
from parac.core.specs import AgentSpec

NAMES = [f"a{i}" for i in range(8)]
TOOLS = [f"t{i}" for i in range(6)]


@st.composite
def forests(draw):
    """Agents a0..aN, each maybe with a parent (any agent: cycles and dangling parents happen), tools, scalars."""
    count = draw(st.integers(1, len(NAMES)))
    names = NAMES[:count]
    agents = {}
    for name in names:
        fields = {"name": name}
        parent = draw(st.one_of(st.none(), st.sampled_from([*names, "ghost"])))
        if parent is not None:
            fields["parent"] = parent
        if draw(st.booleans()):
            fields["tools"] = draw(st.lists(st.sampled_from(TOOLS), max_size=4))
        if draw(st.booleans()):
            fields["exclude_tools"] = draw(st.lists(st.sampled_from(TOOLS), max_size=2))
        if draw(st.booleans()):
            fields["temperature"] = draw(st.sampled_from([0.0, 0.5, 1.0]))
        if draw(st.booleans()):
            fields["metadata"] = {"k": {draw(st.sampled_from("xyz")): name}}
        agents[name] = AgentSpec(**fields)
    return agents


def naive_chain(name, agents):
    """Reference: follow parents until a repeat or a missing parent."""
    chain = [name]
    while agents[chain[-1]].parent is not None:
        parent = agents[chain[-1]].parent
        if parent in chain:
            return "cycle", chain[chain.index(parent) :]
        if parent not in agents:
            return "unknown-parent", chain
        chain.append(parent)
    return "ok", chain


@settings(max_examples=300, deadline=None)
@given(forests())
def test_chain_or_error_matches_reference(agents):
    for name in agents:
        kind, expected = naive_chain(name, agents)
        if kind == "ok":
            assert chain_of(name, agents) == expected
        else:
            try:
                chain_of(name, agents)
            except InheritanceError as exc:
                assert exc.kind == kind
                if kind == "cycle":
                    assert set(exc.agents) == set(expected), "every agent on the cycle is named"
            else:
                raise AssertionError(f"{name}: expected {kind}")


@settings(max_examples=300, deadline=None)
@given(forests())
def test_merge_rules(agents):
    for name in agents:
        kind, chain = naive_chain(name, agents)
        if kind != "ok":
            continue
        resolved = resolve(name, agents)
        # tools: union in order, root first, without duplicates, minus exclusions at or below where they were added
        expected_tools: list[str] = []
        for agent in reversed(chain):
            spec = agents[agent]
            for tool in spec.tools:
                if tool not in expected_tools:
                    expected_tools.append(tool)
            expected_tools = [t for t in expected_tools if t not in spec.exclude_tools]
        assert resolved.fields["tools"] == expected_tools
        assert len(set(resolved.fields["tools"])) == len(resolved.fields["tools"])
        # scalars: the nearest agent that sets the field wins, and provenance names it
        setters = [a for a in chain if "temperature" in agents[a].model_fields_set]
        if setters:
            assert resolved.fields["temperature"] == agents[setters[0]].temperature
            assert resolved.provenance["temperature"] == setters[0]
        else:
            assert resolved.fields["temperature"] is None
        # mappings merge deeply: every key any ancestor set survives
        keys = {k for a in chain if agents[a].metadata for k in agents[a].metadata["k"]}
        assert set((resolved.fields["metadata"] or {}).get("k", {})) == keys
        for tool, giver in resolved.item_provenance.get("tools", {}).items():
            assert tool in agents[giver].tools


def test_explicit_default_value_still_overrides():
    agents = {
        "root": AgentSpec(name="root", temperature=0.7, tools=[]),
        "leaf": AgentSpec(name="leaf", parent="root", temperature=None),
    }
    resolved = resolve("leaf", agents)
    assert resolved.fields["temperature"] is None
    assert resolved.provenance["temperature"] == "leaf"
