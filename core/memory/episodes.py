"""Episodes and recall: what a finished run leaves in memory, and what an agent is reminded of before it starts.

An episode is derived from the run's own record, with no model call: the task, the outcome, the cost, the tools
used and the output (its first lines are "what the run produced/learned"). Agent runs leave one in
``agent:NAME`` when their spec says ``memory: {episodic: true}``; workflow runs leave one in ``workflow:NAME``
unless ``parac.yaml`` says ``memory: {episodes: false}``.

Recall searches the agent's namespaces (``workspace`` and ``agent:NAME`` unless the spec names others) with the
task's words and puts the best entries in the system prompt, so the model reads them before the task.
"""

from __future__ import annotations

from typing import Any

from .store import Entry, Memory, MemoryError

#: How much of a run's output an episode keeps.
EPISODE_OUTPUT_CHARS = 1_500
#: How much of each recalled entry goes into an agent's context.
RECALLED_ENTRY_CHARS = 1_000


def memory_spec(value: Any) -> dict[str, Any]:
    """An agent's resolved ``memory:`` as a mapping: the spec model itself, or (inherited) a deep-merged mapping."""
    if value is None:
        return {}
    return value if isinstance(value, dict) else value.model_dump(exclude_none=True)


def agent_namespaces(agent: str, spec: dict[str, Any]) -> list[str]:
    return list(spec.get("namespaces") or ["workspace", f"agent:{agent}"])


def recall(memory: Memory, agent: str, spec: dict[str, Any], task: str) -> list[Entry]:
    """The entries most relevant to ``task`` from the agent's namespaces (none when ``recall`` is 0)."""
    count = int(spec.get("recall", 5))
    if count <= 0 or not task.strip():
        return []
    kinds = None if spec.get("episodic") else ["fact", "document"]
    try:
        return memory.search(task, namespaces=agent_namespaces(agent, spec), kinds=kinds, limit=count)
    except MemoryError:  # a task with no searchable word recalls nothing
        return []


def context_section(entries: list[Entry]) -> str:
    """The system prompt's part that shows recalled entries (empty when none)."""
    if not entries:
        return ""
    lines = ["## Memory", "Entries from the team's memory that match this task, most relevant first:"]
    for entry in entries:
        text = _cut(entry.content, RECALLED_ENTRY_CHARS)
        label = f"{entry.title}: " if entry.title else ""
        lines.append(f"- [{entry.namespace}, {entry.kind} #{entry.id}] {label}{text}")
    return "\n".join(lines)


def agent_episode(
    memory: Memory, *, agent: str, run_id: str, task: str, status: str, output: str, cost_usd: float,
    tools: list[str], error: str | None, ttl_days: float | None,
) -> Entry:
    """Store the episode of a finished agent run in ``agent:NAME``."""
    lines = [f"Task: {_cut(task, 500)}", f"Outcome: {status}" + (f" ({_cut(error, 300)})" if error else ""),
             f"Cost: ${cost_usd:.6f}"]
    if tools:
        lines.append("Tools used: " + ", ".join(dict.fromkeys(tools)))
    if output:
        lines.append("Result: " + _cut(output, EPISODE_OUTPUT_CHARS))
    return memory.add(
        "\n".join(lines), namespace=f"agent:{agent}", kind="episode", title=f"run {run_id} of agent {agent}",
        source=f"run:{run_id}", ttl_days=ttl_days,
        metadata={"run_id": run_id, "agent": agent, "status": status, "cost_usd": round(cost_usd, 8)},
    )


def workflow_episode(memory: Memory, run: dict[str, Any], inputs: dict[str, Any]) -> Entry:
    """Store the episode of a finished workflow run (``summarize(...).to_json()``) in ``workflow:NAME``."""
    lines = [f"Workflow {run['workflow']} with inputs {_cut(str(inputs), 500)}",
             f"Outcome: {run['status']}" + (f" ({_cut(run['error'], 300)})" if run.get("error") else ""),
             f"Cost: ${run['cost']:.6f}"]
    for step in run["steps"]:
        output = step.get("output")
        shown = f": {_cut(str(output), 300)}" if output not in (None, "") else ""
        lines.append(f"- step {step['id']} {step['status']}{shown}")
    return memory.add(
        _cut("\n".join(lines), memory.max_entry_chars - 100), namespace=f"workflow:{run['workflow']}", kind="episode",
        title=f"run {run['run_id']} of workflow {run['workflow']}", source=f"run:{run['run_id']}",
        metadata={"run_id": run["run_id"], "workflow": run["workflow"], "status": run["status"],
                  "cost_usd": run["cost"]},
    )


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
